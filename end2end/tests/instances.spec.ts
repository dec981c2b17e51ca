import { type Page, type TestInfo, expect, test } from '@playwright/test';

import { hydrated } from './fixtures';
import { ADMIN_PASSWORD, LifelineServer, freshPostgres } from './server';

// Two instances on one PostgreSQL of their own (not the `server` fixture's database).
async function twoInstances(testInfo: TestInfo): Promise<[LifelineServer, LifelineServer]> {
  const shared = ['--database-url', freshPostgres(), '--lease-ttl-secs', '3'];
  const a = await LifelineServer.start(testInfo.outputPath('a.log'), {
    args: [...shared, '--instance-name', 'a'],
  });
  const b = await LifelineServer.start(testInfo.outputPath('b.log'), {
    args: [...shared, '--instance-name', 'b'],
  });
  return [a, b];
}

async function logIn(page: Page, server: LifelineServer) {
  const login = await page.request.post(`${server.url}/api/auth/login`, {
    form: { username: 'admin', password: ADMIN_PASSWORD, next: '' },
  });
  expect(login.ok()).toBeTruthy();
}

// Two instances on one PostgreSQL: a session held by one shows, live, on the other's
// dashboard. (Not the `server` fixture: these servers share a database of their own.)
test('a dashboard on one instance shows, live, what a session held by another does', async ({
  page,
}, testInfo) => {
  const [a, b] = await twoInstances(testInfo);
  try {
    const id = await b.pairedSession('Held by B');
    await logIn(page, a);
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

// An operator moves a session from one instance to another and drains an instance, from
// the dashboard of either.
test('the instances page lists both instances, and a move and a drain hand a session over', async ({
  page,
}, testInfo) => {
  const [a, b] = await twoInstances(testInfo);
  // A handover waits for the next lease renewal (a third of the 3 s lease) and a restore.
  const handover = { timeout: 20_000 };
  try {
    const id = await b.pairedSession('Mover');
    await logIn(page, a);
    await page.goto(`${a.url}/dashboard/instances`);
    await hydrated(page);
    const rowA = page.locator('[data-testid=instances] tr[data-instance=a]');
    const rowB = page.locator('[data-testid=instances] tr[data-instance=b]');
    await expect(rowA).toContainText('(this one)');
    await expect(rowA).toContainText('0 of 10000');
    await expect(rowB).toContainText('1 of 10000');
    await expect(rowB).toContainText('serving');

    await page.goto(`${a.url}/dashboard/sessions/${id}`);
    await hydrated(page);
    await expect(page.getByTestId('held-by')).toHaveText('b');
    const move = page.getByTestId('move-session');
    await move.getByLabel('Move to instance').selectOption('a');
    await move.getByRole('button', { name: 'Move' }).click();
    await expect(page.getByTestId('move-outcome')).toContainText('Asked to move');
    await expect(page.getByTestId('held-by')).toHaveText('a', handover);

    await page.goto(`${a.url}/dashboard/instances`);
    await hydrated(page);
    await expect(rowA).toContainText('1 of 10000', handover);
    await page.getByRole('button', { name: 'Drain: a' }).click();
    await expect(rowA).toHaveAttribute('data-draining', 'true');
    await expect(rowA).toContainText('0 of 10000', handover);
    await expect(rowB).toContainText('1 of 10000', handover);
    await page.screenshot({ path: testInfo.outputPath('instances.png'), fullPage: true });
    // b counts the session from the moment it holds the lease; connecting follows.
    const where = async () => {
      const session = await a.api('GET', `/sessions/${id}`);
      return [session.status, session.held_by];
    };
    await expect.poll(where, handover).toEqual(['connected', 'b']);

    await page.getByRole('button', { name: 'Put back in service: a' }).click();
    await expect(rowA).toHaveAttribute('data-draining', 'false');
  } finally {
    await b.dispose();
    await a.dispose();
  }
});
