// The controller's door to Kubernetes. The CLI's helpers stay in client.ts.
export * from './backoff.js';
export * from './discovery.js';
export * from './http.js';
export * from './informer.js';
export * from './lease.js';
export * from './queue.js';
export * from './resources.js';
export * from './write.js';
