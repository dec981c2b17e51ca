import { test as base } from '@playwright/test';

import { ADMIN_PASSWORD, LifelineServer } from './server';

export { expect } from '@playwright/test';

/**
 * `server`: a Lifeline of the test's own, stopped and deleted afterwards.
 * `page`: already logged in to that server's dashboard as its admin.
 */
export const test = base.extend<{ server: LifelineServer }>({
  server: async ({}, use, testInfo) => {
    const server = await LifelineServer.start(testInfo.outputPath('lifeline.log'));
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
