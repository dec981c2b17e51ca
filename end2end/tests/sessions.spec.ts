import { ADMIN_PASSWORD } from './server';
import { expect, hydrated, test } from './fixtures';

// QR codes rotate every 2 s here instead of 20 s; the dashboard runs its normal schedule.
test.use({ serverOptions: { args: ['--simulator-qr-every', '2'] } });

test('add a session: its QR code is drawn in the page, rotates, and gives way to connected', async ({
  page,
  server,
}, testInfo) => {
  await page.goto(`${server.url}/dashboard/sessions`);
  await hydrated(page);
  await expect(page.getByTestId('sessions-empty')).toBeVisible();

  const form = page.getByTestId('add-session');
  await form.getByLabel('Name').fill('Support line');
  await expect(form.getByLabel('Connector')).toHaveValue('simulator');
  // The server draws the code: the page's WebAssembly carries no QR encoder.
  const drawn = page.waitForResponse((r) => r.url().endsWith('/api/sessions/qr') && r.ok());
  await form.getByRole('button', { name: 'Add session' }).click();
  await drawn;

  // An SVG QR code, in the page, with a name for screen readers.
  const qr = page.getByTestId('qr-code');
  await expect(qr).toBeVisible();
  await expect(qr).toHaveAttribute('role', 'img');
  await expect(qr).toHaveAttribute('aria-label', 'QR code to link Support line');
  await expect(qr.locator('svg')).toBeVisible();
  const first = await qr.getAttribute('data-payload');
  await page.screenshot({ path: testInfo.outputPath('qr-shown.png'), fullPage: true });

  // The upstream rotates its code: the page draws the new one without a reload.
  await expect(qr).not.toHaveAttribute('data-payload', first!, { timeout: 5_000 });

  // The phone scans it: the card and the row say connected, with the masked number.
  const [session] = await server.api('GET', '/sessions');
  await server.fault(session.id, { kind: 'scan', phone_number: '+27821231234' });
  const card = page.getByTestId('pairing-card');
  await expect(card).toContainText('Support line is connected as +27 **** 1234');
  const row = page.getByTestId('session-row').filter({ hasText: 'Support line' });
  await expect(row.getByTestId('session-state')).toHaveText('Connected');
  await expect(page.getByTestId('status-dot')).toHaveAttribute('data-state', 'connected');
  await page.screenshot({ path: testInfo.outputPath('qr-paired.png'), fullPage: true });
});

test('pairing by phone number: the code to type on the phone is shown beside the QR code', async ({
  page,
  server,
}, testInfo) => {
  await page.goto(`${server.url}/dashboard/sessions`);
  await hydrated(page);
  const form = page.getByTestId('add-session');
  await form.getByLabel('Name').fill('Front desk');
  await form.getByLabel('Phone (optional)').fill('+27 82 123 1234');
  await form.getByRole('button', { name: 'Add session' }).click();
  await expect(page.getByTestId('session-notice')).toContainText('enter the pairing code on the phone');

  // Eight characters, shown as WhatsApp shows them, next to a QR code that still works.
  await expect(page.getByTestId('pair-code')).toHaveText(/^[A-Z2-9]{4}-[A-Z2-9]{4}$/);
  await expect(page.getByTestId('qr-code')).toBeVisible();
  await page.screenshot({ path: testInfo.outputPath('pair-code-shown.png'), fullPage: true });

  const [session] = await server.api('GET', '/sessions');
  await server.fault(session.id, { kind: 'scan', phone_number: '+27821231234' });
  await expect(page.getByTestId('pairing-card')).toContainText('Front desk is connected');
  await expect(page.getByTestId('pair-code')).toHaveCount(0);
});

test('a session WhatsApp refuses for good says what to do, and is not retried', async ({
  page,
  server,
}, testInfo) => {
  await page.goto(`${server.url}/dashboard/sessions`);
  await hydrated(page);
  const form = page.getByTestId('add-session');
  await form.getByLabel('Name').fill('Old build');
  await form.getByRole('button', { name: 'Add session' }).click();
  // The session exists once its row shows, not when the click returns.
  const row = page.getByTestId('session-row').filter({ hasText: 'Old build' });
  await expect(row).toBeVisible();
  const [session] = await server.api('GET', '/sessions');
  await server.fault(session.id, { kind: 'scan', phone_number: '+27821231234' });
  await expect(row.getByTestId('session-state')).toHaveText('Connected');

  // WhatsApp stops accepting this client version.
  await server.fault(session.id, { kind: 'outdated' });
  await expect(row.getByTestId('session-state')).toHaveText('Disconnected');
  await expect(row).toContainText('this Lifeline version is outdated');
  await expect(row.getByTestId('session-advice')).toContainText('update Lifeline, then reconnect');
  await page.screenshot({ path: testInfo.outputPath('client-outdated.png'), fullPage: true });
  const deep = await server.api('GET', '/health/deep');
  expect(deep.sessions[0].reason).toBe('client_outdated');
  expect(deep.sessions[0].advice).toContain('update Lifeline');
});

test('an empty name is refused with a clear message and nothing is created', async ({ page, server }) => {
  await page.goto(`${server.url}/dashboard/sessions`);
  await hydrated(page);
  const form = page.getByTestId('add-session');
  // Spaces pass the browser's `required` but not the server.
  await form.getByLabel('Name').fill('   ');
  await form.getByRole('button', { name: 'Add session' }).click();
  await expect(page.getByTestId('session-notice')).toContainText('name must not be empty');
  expect(await server.api('GET', '/sessions')).toEqual([]);
});

test('per-session actions: stop, start, auto-connect, test message, log out and delete with a confirmation', async ({
  page,
  server,
}, testInfo) => {
  const id = await server.pairedSession('Front desk', '+27821231234');
  await page.goto(`${server.url}/dashboard/sessions`);
  await hydrated(page);
  const row = page.getByTestId('session-row').filter({ hasText: 'Front desk' });
  const state = row.getByTestId('session-state');
  const notice = page.getByTestId('session-notice');
  await expect(state).toHaveText('Connected');

  await row.getByRole('button', { name: 'Stop' }).click();
  await expect(state).toHaveText('Disconnected');
  await expect(row).toContainText('stopped by an operator');
  expect((await server.api('GET', `/sessions/${id}`)).desired).toBe('stopped');

  await row.getByRole('button', { name: 'Start' }).click();
  await expect(state).toHaveText('Connected');

  const auto = row.getByRole('checkbox', { name: 'Connect Front desk without a person' });
  await expect(auto).toBeChecked();
  await auto.click();
  await expect(auto).not.toBeChecked();
  // The box unticks as it is clicked; the server's answer follows.
  await expect.poll(async () => (await server.api('GET', `/sessions/${id}`)).auto_connect).toBe(false);

  await row.getByRole('button', { name: 'Send test' }).click();
  const send = row.getByTestId('send-test');
  await send.getByLabel('To').fill('+27 82 555 0000');
  await send.getByRole('button', { name: 'Send' }).click();
  await expect(notice).toContainText('test message sent to +27 82 555 0000');
  await expect(notice).toHaveAttribute('data-ok', 'true');

  // A bad number is refused with the reason, and the form's data is not lost elsewhere.
  await row.getByRole('button', { name: 'Send test' }).click();
  await send.getByLabel('To').fill('call me');
  await send.getByRole('button', { name: 'Send' }).click();
  await expect(notice).toHaveAttribute('data-ok', 'false');
  await expect(notice).toContainText('international form');

  // Log out asks first; cancelling changes nothing.
  await row.getByRole('button', { name: 'Log out' }).click();
  const confirm = row.getByTestId('confirm');
  await expect(confirm).toContainText('Only a new QR scan links it again');
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  await expect(confirm).toBeHidden();
  await expect(state).toHaveText('Connected');
  await row.getByRole('button', { name: 'Log out' }).click();
  await confirm.getByRole('button', { name: 'Yes, log out' }).click();
  await expect(state).toHaveText('Logged out');
  await page.screenshot({ path: testInfo.outputPath('session-actions.png'), fullPage: true });

  await row.getByRole('button', { name: 'Delete' }).click();
  await expect(confirm).toContainText('Delete Front desk?');
  await confirm.getByRole('button', { name: 'Yes, delete' }).click();
  await expect(page.getByTestId('sessions-empty')).toBeVisible();
  expect(await server.api('GET', '/sessions')).toEqual([]);
});

test('session detail: a 24 h chart with the connection attempts marked, and the changes', async ({
  page,
  server,
}, testInfo) => {
  const id = await server.pairedSession('Front desk', '+27821231234');
  // A drop: the supervisor reconnects, which is an attempt on the chart.
  await server.fault(id, { kind: 'drop' });
  await expect
    .poll(async () => (await server.api('GET', `/sessions/${id}`)).status, { timeout: 15_000 })
    .toBe('connected');

  await page.goto(`${server.url}/dashboard/sessions`);
  await hydrated(page);
  await page.getByRole('link', { name: 'Front desk' }).click();
  await expect(page).toHaveURL(`${server.url}/dashboard/sessions/${id}`);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Front desk');
  const chart = page.getByTestId('status-chart');
  await expect(chart.locator('svg')).toHaveAttribute('aria-label', /Connected \d+% of the time on record in the last 24 hours; 1 connection attempt\./);
  await expect(chart.getByTestId('attempt-mark')).toHaveCount(1);
  const events = page.getByTestId('session-events');
  await expect(events.locator('tr[data-attempt="true"]')).toHaveCount(1);
  await expect(events).toContainText('Reconnecting');
  await page.screenshot({ path: testInfo.outputPath('session-detail.png'), fullPage: true });

  // An unknown id is an error on the page, not a blank one.
  await page.goto(`${server.url}/dashboard/sessions/no-such-session`);
  await expect(page.getByRole('alert')).toContainText('no-such-session');
});

test('settings: the admin password changes, the old one stops working; policies are shown', async ({
  page,
  server,
}, testInfo) => {
  await page.goto(`${server.url}/dashboard/settings`);
  await hydrated(page);
  await expect(page.getByTestId('policy-values')).toContainText('5 s, 15 s, 45 s, then give up');
  await expect(page.getByTestId('policy-values')).toContainText('Light health check every30 s');
  await expect(page.getByTestId('policy-values')).toContainText('3 per 60 min (a person always may)');

  const form = page.getByTestId('password-form');
  const outcome = page.getByTestId('password-outcome');
  await form.getByLabel('Current password').fill('not the password');
  await form.getByLabel('New password', { exact: true }).fill('a much better password');
  await form.getByLabel('New password again').fill('a much better password');
  await form.getByRole('button', { name: 'Change password' }).click();
  await expect(outcome).toHaveText('the current password is wrong');

  await form.getByLabel('Current password').fill(ADMIN_PASSWORD);
  await form.getByLabel('New password', { exact: true }).fill('a much better password');
  await form.getByLabel('New password again').fill('a much better password');
  await form.getByRole('button', { name: 'Change password' }).click();
  await expect(outcome).toContainText('Password changed');
  await page.screenshot({ path: testInfo.outputPath('settings-password.png'), fullPage: true });

  const login = (password: string) =>
    fetch(`${server.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: 'admin', password, next: '' }),
      redirect: 'manual',
    });
  expect((await login(ADMIN_PASSWORD)).status).toBe(401);
  expect((await login('a much better password')).status).toBeLessThan(400);
  // This page's own login survives the change.
  await page.reload();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Settings');
});
