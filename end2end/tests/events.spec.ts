import { expect, test } from './fixtures';

test('a killed server turns the page red within 2 s; restarted, it is live again without a reload', async ({
  page,
  server,
}, testInfo) => {
  await server.pairedSession('Front desk');
  await page.goto(server.url);
  const dot = page.getByTestId('status-dot');
  const socket = page.getByTestId('socket-state');
  await expect(socket).toHaveAttribute('data-state', 'open');
  await expect(dot).toHaveAttribute('data-state', 'connected');
  await page.evaluate(() => ((window as any).__lifelineMarker = 'no reload'));

  await server.kill();
  await expect(dot).toHaveAttribute('data-state', 'disconnected', { timeout: 2_000 });
  await expect(socket).not.toHaveAttribute('data-state', 'open');
  await page.screenshot({ path: testInfo.outputPath('server-killed.png') });

  await server.launch();
  await expect(socket).toHaveAttribute('data-state', 'open', { timeout: 15_000 });
  await expect(dot).toHaveAttribute('data-state', 'connected', { timeout: 15_000 });

  // Events flow on the new channel: a drop shows at once, without any poll.
  const [session] = await server.api('GET', '/sessions');
  await server.api('POST', `/dev/simulator/sessions/${session.id}/fault`, { kind: 'drop' });
  await expect(dot).toHaveAttribute('data-state', 'disconnected', { timeout: 2_000 });
  await expect(dot).toHaveAttribute('data-state', 'connected', { timeout: 15_000 });

  // The page agrees with the server, and it is still the same page.
  const health = await (await fetch(`${server.url}/health`)).json();
  await expect(page.getByTestId('sessions-total')).toHaveText(String(health.sessions.total));
  expect(await page.evaluate(() => (window as any).__lifelineMarker)).toBe('no reload');
  await page.screenshot({ path: testInfo.outputPath('server-back.png') });
});
