import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { type Browser, type BrowserContext, expect, type Page, test } from '@playwright/test';

import { ADMIN_PASSWORD, LifelineServer, lifelineBin } from '../tests/server';

/**
 * What the dashboard costs a browser on a phone's network: bytes over the wire for the first
 * load with an empty cache, for the whole app (every chunk, once the idle prefetch is done)
 * and for a second visit, and the time until the dot shows the server's real state on
 * Chrome's "Fast 3G" profile. This build and the one in LIFELINE_BENCH_BASELINE (JSON: name,
 * bin, siteRoot) are measured in the same run, so the figures stand next to their baseline.
 */

interface Build {
  name: string;
  bin: string;
  siteRoot: string;
}

const repoRoot = path.resolve(__dirname, '..', '..');
/** This clone's release build, and the baseline scripts/bench-baseline built, if given. */
const builds: Build[] = [
  {
    name: 'this build',
    bin: lifelineBin,
    siteRoot: path.join(repoRoot, 'target', 'site'),
  },
  ...(process.env.LIFELINE_BENCH_BASELINE ? [JSON.parse(process.env.LIFELINE_BENCH_BASELINE)] : []),
];

/** Chrome DevTools' "Fast 3G": 1.6 Mbit/s down and 750 kbit/s up at 90 %, 562.5 ms latency. */
const FAST_3G = {
  offline: false,
  latency: 562.5,
  downloadThroughput: (1.6 * 1000 * 1000 * 0.9) / 8,
  uploadThroughput: (750 * 1000 * 0.9) / 8,
};
/** Loads timed on Fast 3G per build; the median is reported. */
const SLOW_LOADS = 3;

const GOALS = { firstKb: 200, wholeKb: 450, secondKb: 5, fast3gMs: 3000 };

interface Figures {
  build: string;
  firstBytes: number;
  wholeBytes: number;
  secondBytes: number;
  fast3gMs: number;
  fast3gLiveMs: number;
  files: number;
}

/** Counts the bytes the page receives (headers and bodies, as sent) through DevTools. */
async function meter(context: BrowserContext, page: Page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  const state = { bytes: 0, files: new Set<string>() };
  const urls = new Map<string, string>();
  cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
  cdp.on('Network.loadingFinished', (e) => {
    state.bytes += e.encodedDataLength;
    const url = urls.get(e.requestId);
    if (url && e.encodedDataLength > 0) state.files.add(new URL(url).pathname);
  });
  return { cdp, state };
}

async function loggedIn(browser: Browser, server: LifelineServer): Promise<BrowserContext> {
  const context = await browser.newContext();
  const login = await context.request.post(`${server.url}/api/auth/login`, {
    form: { username: 'admin', password: ADMIN_PASSWORD, next: '' },
  });
  expect(login.ok()).toBeTruthy();
  return context;
}

/** The moment the dot shows the server's real state: the session is connected. */
async function dotIsReal(page: Page) {
  await expect(page.getByTestId('status-dot')).toHaveAttribute('data-state', 'connected', { timeout: 60_000 });
}

/** The chunk files of `build` (none for a build that does not split). */
function chunkFiles(build: Build): string[] {
  const pkg = path.join(build.siteRoot, 'pkg');
  return readdirSync(pkg).filter((f) => f.endsWith('.wasm') && !f.startsWith('lifeline'));
}

async function measure(browser: Browser, build: Build, log: string): Promise<Figures> {
  const server = await LifelineServer.start(log, { build });
  try {
    await server.pairedSession('Front desk', '+27821231234');

    // First load, empty cache, then the rest of the app as the browser prefetches it.
    const context = await loggedIn(browser, server);
    const page = await context.newPage();
    const { state } = await meter(context, page);
    // The chunks wait until the dot is real: what crossed the wire by then is what the
    // first load needed, not the idle prefetch that starts right after it.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    await page.route(
      (url) => /\/pkg\/(chunk_|split_).+\.wasm$/.test(url.pathname),
      async (route) => {
        await released;
        await route.continue();
      },
    );
    await page.goto(`${server.url}/dashboard`);
    await dotIsReal(page);
    const firstBytes = state.bytes;
    const files = state.files.size;
    release();
    // The idle prefetch brings the pages reachable from the frame; login and setup are
    // fetched here, so every chunk has crossed the wire once.
    await page.waitForLoadState('networkidle');
    const missing = chunkFiles(build).filter((c) => ![...state.files].some((f) => f.endsWith(`/${c}`)));
    await page.evaluate(async (urls) => {
      await Promise.all(urls.map((u) => fetch(u).then((r) => r.arrayBuffer())));
    }, missing.map((c) => `/pkg/${c}`));
    const wholeBytes = state.bytes;

    await context.close();

    // Second visit, in a browser that has not held anything back (routing requests turns
    // the cache off): everything the first visit fetched is in the cache.
    const returning = await loggedIn(browser, server);
    const again = await returning.newPage();
    const second = await meter(returning, again);
    await again.goto(`${server.url}/dashboard`);
    await dotIsReal(again);
    await again.waitForLoadState('networkidle');
    second.state.bytes = 0;
    await again.goto(`${server.url}/dashboard`);
    await dotIsReal(again);
    const secondBytes = second.state.bytes;
    await returning.close();

    // Fast 3G, empty cache each time.
    const times: number[] = [];
    const live: number[] = [];
    for (let i = 0; i < SLOW_LOADS; i++) {
      const slow = await loggedIn(browser, server);
      const slowPage = await slow.newPage();
      const { cdp } = await meter(slow, slowPage);
      await cdp.send('Network.emulateNetworkConditions', FAST_3G);
      const started = Date.now();
      await slowPage.goto(`${server.url}/dashboard`, { waitUntil: 'commit', timeout: 60_000 });
      await dotIsReal(slowPage);
      times.push(Date.now() - started);
      // And until the page answers clicks: the WebAssembly has hydrated it.
      await expect(slowPage.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 60_000 });
      live.push(Date.now() - started);
      await slow.close();
    }
    const median = (ms: number[]) => [...ms].sort((a, b) => a - b)[Math.floor(ms.length / 2)];
    return {
      build: build.name,
      firstBytes,
      wholeBytes,
      secondBytes,
      fast3gMs: median(times),
      fast3gLiveMs: median(live),
      files,
    };
  } finally {
    await server.dispose();
  }
}

const kb = (bytes: number) => (bytes / 1000).toFixed(1);

test('first load, whole app, second visit and Fast 3G, next to the baseline', async ({ browser }, testInfo) => {
  const results: Figures[] = [];
  for (const build of builds) {
    expect(existsSync(build.bin), `${build.name}: ${build.bin} is built`).toBeTruthy();
    results.push(await measure(browser, build, testInfo.outputPath(`${build.name.replaceAll(' ', '-')}.log`)));
  }
  const rows = [
    ['', ...results.map((r) => r.build), 'goal'],
    ['first load of /dashboard, KB over the wire', ...results.map((r) => kb(r.firstBytes)), `<= ${GOALS.firstKb}`],
    ['  files fetched for it', ...results.map((r) => String(r.files)), ''],
    ['whole app, every chunk, KB', ...results.map((r) => kb(r.wholeBytes)), `<= ${GOALS.wholeKb}`],
    ['second visit, KB', ...results.map((r) => kb(r.secondBytes)), `<= ${GOALS.secondKb}`],
    [`Fast 3G: dot shows the real state, ms (median of ${SLOW_LOADS})`, ...results.map((r) => String(r.fast3gMs)), `< ${GOALS.fast3gMs}`],
    [`Fast 3G: page live (hydrated), ms (median of ${SLOW_LOADS})`, ...results.map((r) => String(r.fast3gLiveMs)), ''],
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const table = rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  '));
  console.log(`\n${table.join('\n')}\n`);
  writeFileSync(testInfo.outputPath('load.json'), JSON.stringify(results, null, 2));
  // Site files on disk, brotli, for the record: what the release puts on the wire at most.
  for (const build of builds) {
    const pkg = path.join(build.siteRoot, 'pkg');
    const br = readdirSync(pkg).filter((f) => f.endsWith('.br'));
    const total = br.reduce((sum, f) => sum + statSync(path.join(pkg, f)).size, 0);
    console.log(`${build.name}: ${br.length} precompressed files, ${kb(total)} KB brotli in all`);
  }
});
