// The Pod Security "restricted" level for every pod llmstack renders: non-root, no privilege
// escalation, every capability dropped, the runtime's default seccomp profile. Namespace `llm`
// enforces that level (see the llm-namespace bundle), so a pod that drifts from it is refused.

/** The namespace labels that make the API server enforce (and warn and audit) the restricted level. */
export const POD_SECURITY_LABELS = {
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/enforce-version': 'latest',
  'pod-security.kubernetes.io/warn': 'restricted',
  'pod-security.kubernetes.io/audit': 'restricted',
} as const;

/**
 * Pod-level securityContext: a fixed non-root uid/gid; fsGroup makes mounted volumes writable by it.
 * `knative`: Knative Serving 1.23 refuses fsGroupChangePolicy in a Service's pod spec (its field mask
 * has no such field), so Knative pods re-own their volumes on every start.
 */
export function restrictedPodSecurity(uid: number, options: { fsGroup?: boolean; knative?: boolean } = {}): Record<string, unknown> {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    ...(options.fsGroup ? { fsGroup: uid, ...(options.knative ? {} : { fsGroupChangePolicy: 'OnRootMismatch' }) } : {}),
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** Container-level securityContext; readOnlyRootFilesystem only where the image writes nothing into itself. */
export function restrictedContainerSecurity(readOnlyRootFilesystem: boolean): Record<string, unknown> {
  return {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    readOnlyRootFilesystem,
    runAsNonRoot: true,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}
