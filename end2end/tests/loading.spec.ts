import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

import type { Route } from '@playwright/test';

import { expect, hydrated, test } from './fixtures';
import { ADMIN_PASSWORD } from './server';

// The release build the tests run against (`cargo leptos end-to-end --release --split`).
const pkg = path.resolve(__dirname, '..', '..', 'target', 'site', 'pkg');

/** The lazy-loading manifest the build wrote: which chunk files each lazy function needs. */
function manifest(): Record<string, string[]> {
  const name = readdirSync(pkg).find((f) => /^__wasm_split_manifest\..+\.json$/.test(f));
  expect(name, 'the build splits the WebAssembly (--split)').toBeDefined();
  return JSON.parse(readFileSync(path.join(pkg, name!), 'utf8'));
}

/** The chunk files (without `.wasm`) the lazy route `route` (e.g. `SessionsRoute`) needs. */
function chunksOf(route: string): string[] {
  const key = route.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
  const entries = Object.entries(manifest()).filter(([name]) => name.includes(`${key}_view`));
  expect(entries.length, `one lazy view for ${route}`).toBe(1);
  return entries[0][1];
}

const isChunk = (url: string) => /\/pkg\/.+\.wasm$/.test(url) && !/\/pkg\/lifeline\./.test(url);

test('the first load is the frame and the Dashboard; Sessions comes as a chunk of its own and works', async ({
  page,
  server,
}) => {
  // Every chunk is held back until the test lets it through: the Dashboard must hydrate,
  // and its dot show the server's state, without any of them.
  const chunks: string[] = [];
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  await page.route(
    (url) => isChunk(url.pathname),
    async (route: Route) => {
      chunks.push(new URL(route.request().url()).pathname);
      await released;
      await route.continue();
    },
  );
  const mainWasm: string[] = [];
  page.on('request', (r) => {
    if (/\/pkg\/lifeline\..+\.wasm$/.test(r.url())) mainWasm.push(r.url());
  });

  await server.pairedSession('Front desk');
  await page.goto(`${server.url}/dashboard`);
  await hydrated(page);
  await expect(page.getByTestId('status-dot')).toHaveAttribute('data-state', 'connected');
  expect(mainWasm).toHaveLength(1);

  // The first visit to Sessions needs its chunk; with it the page works as before.
  release();
  await page.getByRole('link', { name: 'Sessions', exact: true }).click();
  await expect(page).toHaveURL(/\/dashboard\/sessions$/);
  const form = page.getByTestId('add-session');
  await form.getByLabel('Name').fill('Support line');
  await form.getByRole('button', { name: 'Add session' }).click();
  await expect(page.getByTestId('qr-code')).toBeVisible();
  for (const chunk of chunksOf('SessionsRoute')) {
    expect(chunks.some((c) => c.endsWith(`/${chunk}.wasm`)), chunk).toBeTruthy();
  }
  // The event channel carried on across the lazy navigation: the scan shows without reload.
  const sessions: { id: string; name: string }[] = await server.api('GET', '/sessions');
  const added = sessions.find((s) => s.name === 'Support line')!;
  await server.fault(added.id, { kind: 'scan', phone_number: '+27821231234' });
  const row = page.getByTestId('session-row').filter({ hasText: 'Support line' });
  await expect(row.getByTestId('session-state')).toHaveText('Connected');
  await expect(page.getByTestId('status-dot')).toHaveAttribute('data-state', 'connected');
});

test('a page opened directly hydrates with its chunk, and the others are fetched once the browser is idle', async ({
  page,
  server,
}) => {
  const settings = chunksOf('SettingsRoute');
  const prefetched = page.waitForRequest((r) => r.url().endsWith(`/${settings[0]}.wasm`));
  await page.goto(`${server.url}/dashboard/sessions`);
  await hydrated(page);
  await expect(page.getByTestId('sessions-empty')).toBeVisible();
  await page.getByTestId('add-session').getByLabel('Name').fill('x');
  await expect(page.getByTestId('add-session').getByLabel('Name')).toHaveValue('x');
  // Nobody clicked Settings: its chunk came anyway, while nothing else was happening.
  await prefetched;
});

test('site files are compressed, named by content and kept a year; the page is checked each time', async ({
  page,
  server,
}) => {
  const get = (file: string, accept = 'gzip, deflate, br') =>
    page.request.get(`${server.url}${file}`, { headers: { 'accept-encoding': accept } });
  const html = await get('/dashboard');
  expect(html.headers()['content-encoding']).toBe('br');
  expect(html.headers()['cache-control']).toBe('no-cache');

  // What the page names: the stylesheet, the script and the WebAssembly, each with a hash.
  const body = await html.text();
  const named = [...body.matchAll(/(?:href|src)="(\/pkg\/[^"]+)"/g)].map((m) => m[1]);
  for (const ext of ['.css', '.js', '.wasm']) {
    expect(named.some((f) => f.endsWith(ext)), `${ext} in ${named}`).toBeTruthy();
  }
  const chunk = `/pkg/${chunksOf('SessionsRoute')[0]}.wasm`;
  for (const file of [...named, chunk]) {
    expect(file, 'a content hash in the name').toMatch(/\.[A-Za-z0-9_-]{22}\.[a-z]+$/);
    const br = await get(file);
    expect(br.status(), file).toBe(200);
    expect(br.headers()['cache-control'], file).toBe('public, max-age=31536000, immutable');
    // Compressed once at build time and sent as it is, its length known.
    expect(br.headers()['content-encoding'], file).toBe('br');
    expect(Number(br.headers()['content-length']), file).toBe(statSync(path.join(pkg, '..', `${file}.br`)).size);
    expect((await get(file, 'gzip')).headers()['content-encoding'], file).toBe('gzip');
    expect((await get(file, 'identity')).headers()['content-encoding'], file).toBeUndefined();
  }
  // A file without a hash may change in place: checked before each use, and an unchanged
  // one costs a "not modified".
  const icon = await get('/favicon.svg');
  expect(icon.headers()['cache-control']).toBe('no-cache');
  const again = await page.request.get(`${server.url}/favicon.svg`, {
    headers: { 'if-modified-since': icon.headers()['last-modified'] },
  });
  expect(again.status()).toBe(304);

  // And the browser itself gets them that way and hydrates.
  const wasm = page.waitForResponse((r) => r.url().endsWith('.wasm'));
  await page.goto(`${server.url}/dashboard`);
  await hydrated(page);
  expect((await wasm).headers()['content-encoding']).toBe('br');
});

test('the dot shows the server state from the first paint, before any script has run', async ({
  browser,
  server,
}) => {
  await server.pairedSession('Front desk');
  // A browser that runs no script at all sees what a slow phone sees before the
  // WebAssembly arrives.
  const context = await browser.newContext({ javaScriptEnabled: false });
  const login = await context.request.post(`${server.url}/api/auth/login`, {
    form: { username: 'admin', password: ADMIN_PASSWORD, next: '' },
  });
  expect(login.ok()).toBeTruthy();
  const page = await context.newPage();
  await page.goto(`${server.url}/dashboard`);
  await expect(page.getByTestId('status-dot')).toHaveAttribute('data-state', 'connected');
  await expect(page.getByTestId('status-badge')).toHaveText('WhatsApp Connected');
  await context.close();
});
