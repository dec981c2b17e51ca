import { expect, test as base, type Page } from '@playwright/test';

import { ADMIN_PASSWORD, LifelineServer, ServerOptions } from './server';

export { expect };

/** Resolves once the WebAssembly has taken over the server-rendered page. */
export async function hydrated(page: Page): Promise<void> {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

/**
 * `server`: a Lifeline of the test's own, stopped and deleted afterwards; started with
 * `serverOptions` (set them with `test.use`).
 * `page`: already logged in to that server's dashboard as its admin.
 */
export const test = base.extend<{ server: LifelineServer; serverOptions: ServerOptions }>({
  serverOptions: [{}, { option: true }],
  server: async ({ serverOptions }, use, testInfo) => {
    const server = await LifelineServer.start(testInfo.outputPath('lifeline.log'), serverOptions);
    await use(server);
    await server.dispose();
  },
  page: async ({ page, server }, use) => {
    // The login form's endpoint, as a browser without WebAssembly would post it; the
    // session cookie lands in this page's context.
    const response = await page.request.post(`${server.url}/api/auth/login`, {
      form: { username: 'admin', password: ADMIN_PASSWORD, next: '' },
    });
    if (!response.ok()) throw new Error(`login failed: ${response.status()}`);
    await use(page);
  },
});
