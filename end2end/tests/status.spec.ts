import type { Page } from '@playwright/test';

import { expect, hydrated, test } from './fixtures';
import type { LifelineServer } from './server';

// The dashboard's real schedule at a tenth of its length: 3 s polls, reconnects from 0.1 s.
test.use({ serverOptions: { args: ['--dashboard-time-scale', '0.1', '--simulator-qr-every', '2'] } });

const PHONE = '+27821231234';
const MASKED = '+27 **** 1234';

/** A server with one paired session, and its dashboard open and green; returns the session. */
async function greenDashboard(page: Page, server: LifelineServer) {
  const id = await server.pairedSession('Front desk', PHONE);
  await page.goto(`${server.url}/dashboard`);
  await hydrated(page);
  const dot = page.getByTestId('status-dot');
  await expect(dot).toHaveAttribute('data-state', 'connected');
  return { id, dot };
}

test('green with every session connected, red with a pulse after a logout, green again after pairing', async ({
  page,
  server,
}, testInfo) => {
  const { id, dot } = await greenDashboard(page, server);
  await expect(dot).toHaveAttribute('title', 'WhatsApp: Connected');

  // The badge expands to the masked number; the dot opens the popover with the same.
  await page.getByTestId('status-badge').click();
  await expect(page.getByTestId('badge-phone')).toHaveText(MASKED);
  await expect(page.getByTestId('badge-status')).toHaveText('Front desk: Connected');
  await dot.click();
  const popover = page.getByTestId('status-popover');
  await expect(popover).toBeVisible();
  await expect(popover).toContainText('WhatsApp Connected');
  await expect(page.getByTestId('popover-phone')).toHaveText(MASKED);
  // Nothing on the page shows the whole number.
  expect(await page.locator('body').innerText()).not.toContain(PHONE);
  await page.screenshot({ path: testInfo.outputPath('1-connected-popover.png') });

  // The phone unlinks the session: red at once, with a pulse, and the popover says why.
  await server.fault(id, { kind: 'logout' });
  await expect(dot).toHaveAttribute('data-state', 'disconnected');
  await expect(dot).toHaveAttribute('data-pulse', 'true');
  await expect(dot).toHaveAttribute('title', 'WhatsApp: Disconnected - Click for details');
  await expect(popover).toContainText('WhatsApp Offline');
  await expect(page.getByTestId('popover-error')).toBeVisible();
  await page.screenshot({ path: testInfo.outputPath('2-logged-out-popover.png') });
  // The pulse is brief.
  await expect(dot).not.toHaveAttribute('data-pulse', 'true');

  // Escape closes the popover; the keyboard reaches the dot and opens it again.
  await page.keyboard.press('Escape');
  await expect(popover).toBeHidden();
  await dot.focus();
  await page.keyboard.press('Enter');
  await expect(popover).toBeVisible();
  await page.keyboard.press('Escape');

  // Paired again from the Sessions page: a fresh QR code, scanned, and the dot is green.
  await page.getByRole('link', { name: 'Sessions' }).click();
  const row = page.getByTestId('session-row').filter({ hasText: 'Front desk' });
  await expect(row.getByTestId('session-state')).toHaveText('Logged out');
  await row.getByRole('button', { name: 'Pair again' }).click();
  await expect(page.getByTestId('qr-code')).toBeVisible();
  await server.scan(id, PHONE);
  await expect(dot).toHaveAttribute('data-state', 'connected');
  await expect(row.getByTestId('session-state')).toHaveText('Connected');
  await page.screenshot({ path: testInfo.outputPath('3-paired-again.png'), fullPage: true });
});

test('killed, the server turns the dot red within 2 s; restarted, green within 5 s without a reload', async ({
  page,
  server,
}, testInfo) => {
  const { dot } = await greenDashboard(page, server);
  await page.evaluate(() => ((window as any).__lifelineMarker = 'same page'));

  await server.kill();
  await expect(dot).toHaveAttribute('data-state', 'disconnected', { timeout: 2_000 });
  await dot.click();
  await expect(page.getByTestId('popover-error')).toBeVisible();
  await page.screenshot({ path: testInfo.outputPath('server-down.png') });

  // Measured from the moment the server listens again.
  await server.launch();
  await expect(dot).toHaveAttribute('data-state', 'connected', { timeout: 5_000 });
  expect(await page.evaluate(() => (window as any).__lifelineMarker)).toBe('same page');
  await page.screenshot({ path: testInfo.outputPath('server-back.png') });
});

test('a hidden tab polls nothing, and polls at once when shown again', async ({ page, server }) => {
  // The page's clock is the test's: many poll intervals pass in no time.
  await page.clock.install();
  // The event channel stays open and quiet (it answers pings), so only polls reach /health.
  await page.routeWebSocket('**/ws', (ws) => {
    ws.onMessage((m) => {
      if (JSON.parse(String(m)).type === 'ping') ws.send(JSON.stringify({ type: 'pong' }));
    });
  });
  const isLight = (url: string) => new URL(url).pathname === '/health';
  const isDeep = (url: string) => new URL(url).pathname.startsWith('/api/get_deep_health');
  let light = 0;
  let deep = 0;
  page.on('request', (r) => {
    if (isLight(r.url())) light += 1;
    if (isDeep(r.url())) deep += 1;
  });
  const firstLight = page.waitForRequest((r) => isLight(r.url()));
  const firstDeep = page.waitForRequest((r) => isDeep(r.url()));
  await page.goto(`${server.url}/dashboard`);
  await firstLight;
  await firstDeep;
  await hydrated(page);

  // Visible: light polls keep coming on schedule (every 3 s here, 0.5 s in warm-up).
  let before = light;
  await page.clock.runFor(10_000);
  await expect.poll(() => light).toBeGreaterThan(before);

  // Hidden: ten light intervals and more than one deep interval (30 s here) pass without a
  // single request of either kind.
  await setVisibility(page, 'hidden');
  await page.clock.runFor(1_000);
  before = light;
  const deepBefore = deep;
  await page.clock.runFor(35_000);
  expect(light).toBe(before);
  expect(deep).toBe(deepBefore);

  // Shown again: a light poll at once, and the deep one that fell due while hidden.
  const resumedLight = page.waitForRequest((r) => isLight(r.url()));
  const resumedDeep = page.waitForRequest((r) => isDeep(r.url()));
  await setVisibility(page, 'visible');
  await resumedLight;
  await resumedDeep;
  expect(light).toBe(before + 1);
  expect(deep).toBe(deepBefore + 1);
});

async function setVisibility(page: Page, state: 'hidden' | 'visible'): Promise<void> {
  await page.evaluate((s) => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => s });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => s === 'hidden' });
    document.dispatchEvent(new Event('visibilitychange'));
  }, state);
}

test('Try Reconnect shows a spinner, then the outcome, and the dot turns green', async ({
  page,
  server,
}, testInfo) => {
  const { id, dot } = await greenDashboard(page, server);

  // Another client takes the number over: Lifeline does not fight it on its own.
  await server.fault(id, { kind: 'replaced' });
  await expect(dot).toHaveAttribute('data-state', 'disconnected');
  await dot.click();
  await expect(page.getByTestId('popover-error')).toContainText('another client');

  // The next handshake takes 2 s, long enough to see the spinner.
  await server.fault(id, { kind: 'slow_handshake', seconds: 2 });
  const button = page.getByTestId('status-popover').getByRole('button', { name: 'Try Reconnect' });
  await button.click();
  const busy = page.getByTestId('status-popover').locator('button[aria-busy="true"]');
  await expect(busy).toHaveText('Reconnecting…');
  await expect(busy.locator('.spinner')).toBeVisible();
  await page.screenshot({ path: testInfo.outputPath('reconnecting.png') });
  await expect(dot).toHaveAttribute('data-state', 'connected');
  // The outcome stays to be read; the button goes, there is nothing left to reconnect.
  await expect(page.getByTestId('popover-reconnect-outcome')).toHaveAttribute('data-ok', 'true');
  await expect(button).toBeHidden();
  await page.screenshot({ path: testInfo.outputPath('reconnected.png') });

  // The reconnect is in the recovery log: announced live on the Sessions page, and on the
  // session's own page with the watchdog's budget untouched.
  await page.keyboard.press('Escape');
  await page.getByRole('link', { name: 'Sessions' }).click();
  await expect(page.getByTestId('last-recovery')).toContainText(
    'Recovery (asked for by a person): recovered; 3 automatic left this hour.',
  );
  await page.getByRole('link', { name: 'Front desk' }).click();
  await expect(page.getByTestId('session-recoveries').locator('tr[data-outcome="recovered"]')).toHaveCount(1);
  await expect(page.getByTestId('recovery-budget')).toContainText('3 more times this hour');
  await expect(page.getByTestId('recovery-mark')).toHaveCount(1);
});
