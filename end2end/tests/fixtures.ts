import { test as base } from '@playwright/test';

import { LifelineServer } from './server';

export { expect } from '@playwright/test';

/** `server`: a Lifeline of the test's own, stopped and deleted afterwards. */
export const test = base.extend<{ server: LifelineServer }>({
  server: async ({}, use, testInfo) => {
    const server = await LifelineServer.start(testInfo.outputPath('lifeline.log'));
    await use(server);
    await server.dispose();
  },
});
