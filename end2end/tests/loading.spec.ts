import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { Route } from '@playwright/test';

import { expect, hydrated, test } from './fixtures';
import { ADMIN_PASSWORD, lifelineBin } from './server';

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

/** The chunk files of the pages reachable from the frame, each once, Sessions' first. */
function frameChunks(): string[] {
  const files: string[] = [];
  for (const route of ['SessionsRoute', 'SessionDetailRoute', 'InstancesRoute', 'SettingsRoute', 'WebhooksRoute']) {
    for (const chunk of chunksOf(route)) if (!files.includes(`/pkg/${chunk}.wasm`)) files.push(`/pkg/${chunk}.wasm`);
  }
  return files;
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

/** `bytes` with every `from` replaced by `to`, a name of the same length. */
function renamedIn(bytes: Buffer, from: string, to: string): Buffer {
  expect(to).toHaveLength(from.length);
  for (let at = bytes.indexOf(from); at >= 0; at = bytes.indexOf(from, at + to.length)) bytes.write(to, at);
  return bytes;
}

/**
 * A copy of the build as the next release of the dashboard would be: its script, its split
 * loader and its WebAssembly (which name one another) under new names, its pages pointing
 * to them, and this build's names gone.
 */
function nextRelease(): { siteRoot: string; script: string } {
  const siteRoot = mkdtempSync(path.join(os.tmpdir(), 'lifeline-release-'));
  cpSync(path.dirname(pkg), siteRoot, { recursive: true });
  // The build's hash file: in the site folder after `make build`, beside the binary after
  // `cargo leptos end-to-end`; the server prefers the site folder's.
  const hashFile = path.join(siteRoot, 'hash.txt');
  if (!existsSync(hashFile)) cpSync(path.join(path.dirname(lifelineBin), 'hash.txt'), hashFile);
  let hashes = readFileSync(hashFile, 'utf8');
  const renamed = new Map<string, string>();
  for (const [kind, file] of [
    ['js', 'lifeline.#.js'],
    ['split', '__wasm_split.#.js'],
    ['wasm', 'lifeline.#.wasm'],
  ]) {
    const old = new RegExp(`^${kind}: *(\\S+)$`, 'm').exec(hashes)![1];
    const next = `Next${kind}`.padEnd(old.length, 'X');
    hashes = hashes.replace(`${kind}: ${old}`, `${kind}: ${next}`);
    renamed.set(file.replace('#', old), file.replace('#', next));
  }
  writeFileSync(hashFile, hashes);
  const dir = path.join(siteRoot, 'pkg');
  for (const [old, next] of renamed) {
    // Served uncompressed: the compressed copies hold the old names.
    let bytes = readFileSync(path.join(dir, old));
    for (const [o, n] of renamed) bytes = renamedIn(bytes, o, n);
    writeFileSync(path.join(dir, next), bytes);
    for (const suffix of ['', '.br', '.gz']) rmSync(path.join(dir, old + suffix), { force: true });
  }
  return { siteRoot, script: renamed.get([...renamed.keys()][0])! };
}

test('a tab open across a new release loads its next page from the new release', async ({ page, server }) => {
  const original = { bin: lifelineBin, siteRoot: path.dirname(pkg) };
  const script = page.locator('link[rel=modulepreload][href*="/pkg/lifeline."]');
  await server.pairedSession('Front desk');
  await page.goto(`${server.url}/dashboard`);
  await hydrated(page);
  await expect(page.getByTestId('status-dot')).toHaveAttribute('data-state', 'connected');
  const originalScript = (await script.getAttribute('href'))!;
  // A mark on the page's window: gone once the browser loads a new document.
  const mark = () => page.evaluate(() => ((window as any).sameDocument = true));
  const marked = () => page.evaluate(() => (window as any).sameDocument === true);
  await mark();
  const asked = () =>
    page.waitForResponse((r) => r.request().method() === 'HEAD' && /\/pkg\/lifeline\..+\.js$/.test(r.url()));

  // A restart of the same build: the tab asks, its files are still there, it carries on.
  let answer = asked();
  await server.stop();
  await expect(page.getByTestId('status-dot')).not.toHaveAttribute('data-state', 'connected');
  await server.upgrade(original);
  expect((await answer).status()).toBe(200);
  await expect(page.getByTestId('status-dot')).toHaveAttribute('data-state', 'connected');
  await page.getByRole('link', { name: 'Settings', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Settings', level: 1 })).toBeVisible();
  expect(await marked(), 'the router changed the page in place').toBe(true);
  await expect(page.locator('html')).not.toHaveAttribute('data-outdated');

  const release = nextRelease();
  try {
    // A new release: the tab's script is gone, so its next navigation loads the page afresh.
    answer = asked();
    await server.upgrade({ bin: lifelineBin, siteRoot: release.siteRoot });
    expect((await answer).status()).toBe(404);
    await expect(page.locator('html')).toHaveAttribute('data-outdated', '');
    let load = page.waitForRequest((r) => r.isNavigationRequest());
    await page.getByRole('link', { name: 'Sessions', exact: true }).click();
    expect(new URL((await load).url()).pathname).toBe('/dashboard/sessions');
    await expect(script).toHaveAttribute('href', new RegExp(release.script));
    await hydrated(page);
    expect(await marked(), 'a new document').toBe(false);
    await expect(page.getByRole('heading', { name: 'Sessions', level: 1 })).toBeVisible();
    await expect(page.getByTestId('status-dot')).toHaveAttribute('data-state', 'connected');
    await expect(page.locator('html')).not.toHaveAttribute('data-outdated');

    // The new page is current: the router takes the next click. Then the original build
    // comes back, this page is the outdated one, and Back loads afresh too.
    await mark();
    await page.getByRole('link', { name: 'Settings', exact: true }).click();
    await expect(page.getByRole('heading', { name: 'Settings', level: 1 })).toBeVisible();
    expect(await marked()).toBe(true);
    answer = asked();
    await server.upgrade(original);
    expect((await answer).status()).toBe(404);
    await expect(page.locator('html')).toHaveAttribute('data-outdated', '');
    load = page.waitForRequest((r) => r.isNavigationRequest());
    await page.goBack();
    expect(new URL((await load).url()).pathname).toBe('/dashboard/sessions');
    await expect(script).toHaveAttribute('href', originalScript);
    await hydrated(page);
    expect(await marked(), 'a new document').toBe(false);
    await expect(page.getByRole('heading', { name: 'Sessions', level: 1 })).toBeVisible();
  } finally {
    await server.stop();
    rmSync(release.siteRoot, { recursive: true, force: true });
  }
});

test('chunks the idle prefetch cannot fetch cost nothing: the page lives on and fetches them on the click', async ({
  page,
  server,
}) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // The network fails every chunk until the test lets them through.
  let failing = true;
  const failed: string[] = [];
  await page.route(
    (url) => isChunk(url.pathname),
    async (route: Route) => {
      if (!failing) return route.continue();
      failed.push(new URL(route.request().url()).pathname);
      await route.abort('internetdisconnected');
    },
  );
  const id = await server.pairedSession('Front desk');
  await page.goto(`${server.url}/dashboard`);
  await hydrated(page);
  await expect(page.getByTestId('status-dot')).toHaveAttribute('data-state', 'connected');
  // The prefetch tries each chunk of the frame's pages once: Sessions' first.
  const listed = frameChunks();
  expect(listed.slice(0, chunksOf('SessionsRoute').length)).toEqual(chunksOf('SessionsRoute').map((c) => `/pkg/${c}.wasm`));
  await expect.poll(() => failed).toEqual(listed);
  expect(errors).toEqual([]);

  // Still alive: the event channel moves the dot, and Sessions loads its chunk on the click.
  await server.api('POST', `/sessions/${id}/stop`);
  await expect(page.getByTestId('status-dot')).not.toHaveAttribute('data-state', 'connected');
  failing = false;
  await page.getByRole('link', { name: 'Sessions', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Sessions', level: 1 })).toBeVisible();
  const row = page.getByTestId('session-row').filter({ hasText: 'Front desk' });
  await expect(row.getByTestId('session-state')).not.toHaveText('Connected');
  expect(errors).toEqual([]);
});
