import { defineConfig } from 'vitest/config';

// Three projects: `offline` needs Node, git, Go and a C++ compiler (test tools and Ollama built from Go
// modules, cached); `litellm` runs LiteLLM's proxy from PyPI (python3); `cluster` talks to a real
// kube-apiserver started once per run by test/support/global-setup.ts.
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
          // The real LiteLLM proxy from PyPI (scripts/install-litellm.sh, cached) on loopback ports.
          name: 'litellm',
          include: ['test/litellm/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 600_000,
          fileParallelism: false,
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
