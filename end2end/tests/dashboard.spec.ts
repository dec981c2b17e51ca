import type { Route } from '@playwright/test';

import { expect, hydrated, test } from './fixtures';

/** A light report as `GET /health` sends it. */
function report(status: 'ok' | 'degraded' | 'error', total: number, connected: number) {
  return {
    status,
    timestamp: new Date().toISOString(),
    uptime: 3600,
    sessions: { total, connected, connecting: total - connected, disconnected: 0 },
  };
}

test('the dashboard loads, hydrates, and navigates without a reload', async ({ page, server }, testInfo) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));

  await page.goto(server.url);
  await expect(page).toHaveURL(`${server.url}/dashboard`);
  await hydrated(page);
  await expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible();
  await expect(page.getByRole('navigation', { name: 'Main' })).toBeVisible();

  // A click only works if the WASM took over the server-rendered page.
  const badge = page.getByTestId('status-badge');
  await expect(badge).toHaveAttribute('aria-expanded', 'false');
  await badge.click();
  await expect(badge).toHaveAttribute('aria-expanded', 'true');
  await expect(page.locator('#status-badge-details')).toBeVisible();

  // Client-side navigation keeps the page: a marker set now survives the click.
  await page.evaluate(() => ((window as any).__lifelineMarker = 'still here'));
  await page.getByRole('link', { name: 'Sessions' }).click();
  await expect(page).toHaveURL(`${server.url}/dashboard/sessions`);
  await expect(page.getByRole('heading', { name: 'Sessions' })).toBeVisible();
  await expect(page.getByTestId('sessions-empty')).toContainText('No sessions yet.');
  expect(await page.evaluate(() => (window as any).__lifelineMarker)).toBe('still here');
  await expect(page.getByRole('link', { name: 'Sessions' })).toHaveAttribute('aria-current', 'page');

  await page.getByRole('link', { name: 'Settings' }).first().click();
  await expect(page.getByRole('heading', { name: 'Settings' })).toBeVisible();
  await expect(page.getByText('Light health check every')).toBeVisible();
  expect(await page.evaluate(() => (window as any).__lifelineMarker)).toBe('still here');

  await page.screenshot({ path: testInfo.outputPath('settings.png'), fullPage: true });
  expect(errors).toEqual([]);
});

test('the dot reads the real /health of the server', async ({ page, server }, testInfo) => {
  const polled = page.waitForResponse((r) => r.url() === `${server.url}/health`);
  await page.goto(server.url);
  const health = await (await polled).json();
  expect(health.sessions.total).toBe(0);

  // A fresh server with no session: reachable and healthy, but no WhatsApp link to show.
  const dot = page.getByTestId('status-dot');
  await expect(dot).toHaveAttribute('data-state', 'disconnected');
  await expect(dot).toHaveAttribute('title', 'WhatsApp: Disconnected - Click for details');
  await expect(page.getByTestId('server-status')).toHaveText('ok');
  await expect(page.getByTestId('sessions-total')).toHaveText('0');
  await page.getByTestId('status-badge').click();
  await expect(page.locator('#status-badge-details')).toContainText('No WhatsApp session yet.');
  await page.screenshot({ path: testInfo.outputPath('dashboard-no-sessions.png'), fullPage: true });
});

test('the dot follows /health as it changes, on the poll schedule', async ({ page, server }, testInfo) => {
  // Time is under the test's control: a 30 s poll interval takes no 30 s.
  await page.clock.install();
  let answer: object | 'unreachable' = report('ok', 1, 1);
  let polls = 0;
  // The event channel would tell the real server's story: here it stays open and says
  // nothing but pong, so the dot has only the polls to go by.
  await page.routeWebSocket('**/ws', (ws) => {
    ws.onMessage((m) => {
      if (JSON.parse(String(m)).type === 'ping') ws.send(JSON.stringify({ type: 'pong' }));
    });
  });
  await page.route('**/health', async (route: Route) => {
    polls += 1;
    if (answer === 'unreachable') await route.abort('connectionrefused');
    else await route.fulfill({ json: answer });
  });

  await page.goto(server.url);
  await hydrated(page);
  const dot = page.getByTestId('status-dot');
  const badge = page.getByTestId('status-badge');
  await expect(dot).toHaveAttribute('data-state', 'connected');
  await expect(dot).toHaveAttribute('title', 'WhatsApp: Connected');
  await expect(badge).toHaveText('WhatsApp Connected');
  await page.screenshot({ path: testInfo.outputPath('dot-green.png') });
  const firstPolls = polls;

  // A session drops: nothing changes before the next poll is due, then the dot turns red.
  answer = report('degraded', 2, 1);
  await page.clock.runFor(25_000);
  expect(polls).toBe(firstPolls);
  await expect(dot).toHaveAttribute('data-state', 'connected');
  await page.clock.runFor(5_000);
  await expect(dot).toHaveAttribute('data-state', 'disconnected');
  await expect(dot).toHaveAttribute('title', 'WhatsApp: Disconnected - Click for details');
  await expect(badge).toHaveText('WhatsApp Offline');
  await page.screenshot({ path: testInfo.outputPath('dot-red.png') });

  // The server stops answering: still red, and the badge says why.
  answer = 'unreachable';
  await page.clock.runFor(30_000);
  await badge.click();
  await expect(page.locator('#status-badge-details')).toContainText('not answering');
  await expect(dot).toHaveAttribute('data-state', 'disconnected');

  // Unreachable polls back off to 5 s: recovery shows 5 s later, not 30 s later.
  answer = report('ok', 1, 1);
  await page.clock.runFor(5_000);
  await expect(dot).toHaveAttribute('data-state', 'connected');
  await expect(badge).toHaveText('WhatsApp Connected');
});
