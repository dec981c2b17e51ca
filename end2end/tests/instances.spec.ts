import { expect, test } from '@playwright/test';

import { hydrated } from './fixtures';
import { ADMIN_PASSWORD, LifelineServer, freshPostgres } from './server';

// Two instances on one PostgreSQL: a session held by one shows, live, on the other's
// dashboard. (Not the `server` fixture: these servers share a database of their own.)
test('a dashboard on one instance shows, live, what a session held by another does', async ({
  page,
}, testInfo) => {
  const shared = ['--database-url', freshPostgres(), '--lease-ttl-secs', '3'];
  const a = await LifelineServer.start(testInfo.outputPath('a.log'), {
    args: [...shared, '--instance-name', 'a'],
  });
  const b = await LifelineServer.start(testInfo.outputPath('b.log'), {
    args: [...shared, '--instance-name', 'b'],
  });
  try {
    const id = await b.pairedSession('Held by B');
    const login = await page.request.post(`${a.url}/api/auth/login`, {
      form: { username: 'admin', password: ADMIN_PASSWORD, next: '' },
    });
    expect(login.ok()).toBeTruthy();
    await page.goto(`${a.url}/dashboard/sessions`);
    await hydrated(page);
    const row = page.getByTestId('session-row').filter({ hasText: 'Held by B' });
    await expect(row.getByTestId('session-state')).toHaveText('Connected');
    await expect(row.getByTestId('held-by')).toHaveText('on b');
    const instances = await a.api('GET', '/instances');
    expect(instances.map((i: { name: string; sessions: number }) => [i.name, i.sessions])).toEqual([
      ['a', 0],
      ['b', 1],
    ]);

    // The phone unlinks the session on b's upstream: a's page shows it without a reload.
    await b.fault(id, { kind: 'logout' });
    await expect(row.getByTestId('session-state')).toHaveText('Logged out');
    await page.screenshot({ path: testInfo.outputPath('held-elsewhere.png'), fullPage: true });
  } finally {
    await b.dispose();
    await a.dispose();
  }
});
