import { test as base } from '@playwright/test';

import { expect, hydrated } from './fixtures';
import { ADMIN_PASSWORD, LifelineServer } from './server';

base('first start: setup creates the admin, then login and logout work', async ({ page }, testInfo) => {
  const server = await LifelineServer.start(testInfo.outputPath('lifeline.log'), { adminPassword: null });
  try {
    await page.goto(`${server.url}/dashboard/sessions`);
    await expect(page).toHaveURL(`${server.url}/dashboard/setup`);
    await hydrated(page);
    await page.screenshot({ path: testInfo.outputPath('setup.png') });

    // Whoever reaches the server first cannot claim it: the setup code is in its log.
    expect(server.setupCode).toMatch(/^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/);
    await page.getByLabel(/^Setup code/).fill('AAAA-BBBB-CCCC');
    await page.getByLabel('Username').fill('owner');
    await page.getByLabel(/^Password \(at least/).fill('a long enough password');
    await page.getByLabel('Password again').fill('a long enough password');
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect(page.getByRole('alert')).toContainText('the setup code is wrong');

    await page.getByLabel(/^Setup code/).fill(server.setupCode!);
    // Too short is caught by the browser (minlength); a mismatch is caught by the server.
    await page.getByLabel(/^Password \(at least/).fill('a long enough password');
    await page.getByLabel('Password again').fill('a different long password');
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect(page.getByRole('alert')).toContainText('the two passwords differ');

    await page.getByLabel(/^Password \(at least/).fill('a long enough password');
    await page.getByLabel('Password again').fill('a long enough password');
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible();

    await page.getByRole('button', { name: 'Log out' }).click();
    await expect(page).toHaveURL(`${server.url}/dashboard/login`);
    await page.goto(`${server.url}/dashboard/settings`);
    await expect(page).toHaveURL(/\/dashboard\/login\?next=\/dashboard\/settings$/);
    await hydrated(page);
    await page.getByLabel('Username').fill('owner');
    await page.getByLabel('Password').fill('wrong password!');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page.getByRole('alert')).toContainText('wrong username or password');
    await page.getByLabel('Password').fill('a long enough password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page).toHaveURL(`${server.url}/dashboard/settings`);
    await expect(page.getByRole('heading', { name: 'Settings' })).toBeVisible();
  } finally {
    await server.dispose();
  }
});

base('an API key is shown once, works, and stops working when revoked', async ({ page }, testInfo) => {
  const server = await LifelineServer.start(testInfo.outputPath('lifeline.log'));
  try {
    await page.goto(`${server.url}/dashboard/login`);
    await hydrated(page);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('link', { name: 'Settings' }).first().click();
    await page.getByLabel('Name').fill('Prometheus');
    // A monitor only reads: the narrowest scope, which is also the default.
    await expect(page.getByLabel('Scope')).toHaveValue('read');
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = (await page.getByTestId('new-key').textContent())!.trim();
    expect(key).toMatch(/^ll_/);
    await expect(page.getByTestId('api-keys')).toContainText('Prometheus');
    await expect(page.getByRole('row', { name: /Prometheus/ })).toContainText('read');
    await page.screenshot({ path: testInfo.outputPath('api-key.png'), fullPage: true });

    const deep = await page.request.get(`${server.url}/health/deep`, {
      headers: { 'x-api-key': key, cookie: '' },
    });
    expect(deep.status()).toBe(200);
    const act = await page.request.post(`${server.url}/sessions`, {
      headers: { 'x-api-key': key, cookie: '' },
      data: { name: 'Not allowed', connector: 'simulator' },
    });
    expect(act.status()).toBe(403);
    expect((await act.json()).message).toContain('read scope');

    await page.getByRole('button', { name: 'Revoke key Prometheus' }).click();
    await expect(page.getByTestId('api-keys')).toContainText('revoked');
    const refused = await page.request.get(`${server.url}/health/deep`, {
      headers: { 'x-api-key': key, cookie: '' },
    });
    expect(refused.status()).toBe(401);
  } finally {
    await server.dispose();
  }
});
