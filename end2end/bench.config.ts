import { defineConfig } from '@playwright/test';

import base from './playwright.config';

/**
 * `make bench`'s browser benchmarks (bench/): figures, not pass/fail. One at a time, so
 * the two builds compared are measured on an otherwise idle machine.
 */
export default defineConfig({
  ...base,
  testDir: './bench',
  timeout: 15 * 60_000,
  fullyParallel: false,
  workers: 1,
  reporter: [['list']],
  outputDir: 'bench-results',
});
