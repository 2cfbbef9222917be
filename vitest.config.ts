import { defineConfig } from 'vitest/config';

// Two projects: `offline` needs Node, git and Go (test tools built from Go modules, cached); `cluster`
// talks to a real kube-apiserver started once per run by test/support/global-setup.ts.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'offline',
          include: ['test/offline/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'cluster',
          include: ['test/cluster/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          // One shared control plane; files run one at a time to stay inside 2 cores.
          fileParallelism: false,
        },
      },
    ],
  },
});
