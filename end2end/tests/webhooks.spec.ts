import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { expect, hydrated, test } from './fixtures';

/** A webhook receiver on loopback that answers what `answer` says at the time. */
class Receiver {
  answer = 200;
  readonly bodies: { type: string; data: any }[] = [];
  private constructor(private readonly server: Server) {}

  static async start(): Promise<Receiver> {
    let receiver: Receiver;
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        receiver.bodies.push(JSON.parse(body));
        response.writeHead(receiver.answer, { 'content-type': 'text/plain' });
        response.end(receiver.answer === 410 ? 'gone for good' : 'thanks');
      });
    });
    receiver = new Receiver(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

// Deliveries move on the server's own clock; the page reads them again every few seconds.
const LOG = { timeout: 15_000 };

test('an endpoint is added, paused by a 410, resumed, redelivered and deleted from the dashboard', async ({
  page,
  server,
}, testInfo) => {
  const receiver = await Receiver.start();
  try {
    const id = await server.pairedSession('Shop');
    await page.goto(`${server.url}/dashboard/settings/webhooks`);
    await hydrated(page);
    await expect(page.getByRole('link', { name: 'Webhooks' })).toHaveAttribute('aria-current', 'page');

    // Add it for messages too, and for the one session; the secret shows once.
    const form = page.getByTestId('add-webhook');
    await form.getByLabel('URL').fill(receiver.url);
    await form.getByRole('checkbox', { name: /message\.received/ }).check();
    await form.getByRole('checkbox', { name: 'Shop' }).check();
    await form.getByRole('button', { name: 'Add endpoint' }).click();
    await expect(page.getByTestId('webhook-secret')).toHaveText(/^whsec_[A-Za-z0-9+/=]{20,}$/);
    const row = page.locator(`tr[data-webhook="${receiver.url}"]`);
    await expect(row.getByTestId('webhook-state')).toHaveText('active');
    await expect(row).toContainText('Shop');
    const [listed] = await server.api('GET', '/webhooks');
    expect([...listed.events].sort()).toEqual(['message.received', 'recovery', 'session.removed', 'session.status']);
    expect(listed.sessions).toEqual([id]);

    // The receiver says it is gone: Lifeline pauses the endpoint and says so at the top.
    receiver.answer = 410;
    await server.fault(id, { kind: 'message', text: 'first' });
    await expect(page.getByTestId('paused-webhooks')).toContainText(receiver.url, LOG);
    await expect(row.getByTestId('webhook-state')).toHaveText(/^paused by Lifeline: /);
    await row.getByRole('button', { name: `Deliveries of ${receiver.url}` }).click();
    const log = page.getByTestId('delivery-log');
    const failed = log.locator('tr[data-state="failed"]');
    await expect(failed).toHaveCount(1);
    await expect(failed).toContainText('message.received');
    await expect(failed).toContainText('410');
    await expect(failed).toContainText('gone for good');

    // Fixed: resume it and deliver the failed event again; it arrives, with its text.
    receiver.answer = 200;
    await row.getByRole('button', { name: `Resume ${receiver.url}` }).click();
    await expect(row.getByTestId('webhook-state')).toHaveText('active');
    await expect(row).toContainText('Shop');
    expect((await server.api('GET', '/webhooks'))[0].sessions).toEqual([id]);
    await expect(page.getByTestId('paused-webhooks')).toHaveCount(0);
    await failed.getByRole('button', { name: /^Deliver .* again$/ }).click();
    await expect(page.getByTestId('webhook-notice')).toHaveText(`${receiver.url}: 1 delivery queued again.`);
    await expect(log.locator('tr[data-state="delivered"]')).toHaveCount(1, LOG);
    await expect(log.locator('tr[data-state="delivered"]')).toContainText('200');
    await page.screenshot({ path: testInfo.outputPath('webhooks.png'), fullPage: true });
    const texts = receiver.bodies.filter((b) => b.type === 'message.received').map((b) => b.data.text);
    expect(texts).toEqual(['first', 'first']);

    // Deleting asks first.
    await row.getByRole('button', { name: 'Delete' }).click();
    await expect(row).toContainText('Delete it and its undelivered events?');
    await row.getByRole('button', { name: 'Delete' }).click();
    await expect(page.getByTestId('no-webhooks')).toBeVisible();
    await expect(page.getByTestId('delivery-log')).toHaveCount(0);
    expect(await server.api('GET', '/webhooks')).toEqual([]);
  } finally {
    await receiver.close();
  }
});

test('a bad URL is refused with the reason and nothing is added', async ({ page, server }) => {
  await page.goto(`${server.url}/dashboard/settings/webhooks`);
  await hydrated(page);
  const form = page.getByTestId('add-webhook');
  // The browser's own check for type=url lets ftp:// through; Lifeline does not.
  await form.getByLabel('URL').fill('ftp://example.com/hook');
  await form.getByRole('button', { name: 'Add endpoint' }).click();
  await expect(page.getByTestId('new-webhook')).toContainText('http:// or https://');
  await expect(page.getByTestId('no-webhooks')).toBeVisible();
  expect(await server.api('GET', '/webhooks')).toEqual([]);
});
