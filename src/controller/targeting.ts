// The labels Fleet bundles select clusters by, kept on the Rancher cluster of an imported CAPI cluster.
// See docs/adr/0007-bundle-targeting-labels.md. What the upstream versions do (read at the tags):
//
// - rancher/turtles v0.27.0, internal/controllers/import_controller.go reconcileNormal: the
//   management.cattle.io/v3 Cluster it creates (generateName "c-") carries only its owner labels
//   (cluster-api.cattle.io/capi-cluster-owner, -owner-ns, owned); none of the CAPI Cluster's labels.
//   Copying them ("feat: propagate labels to rancher clusters", c0ed7848, merged in 0b1f4517) is on
//   main after the tag and in no release tag yet; it adds keys without "cattle.io" or "x-k8s.io" and
//   never removes one.
// - rancher/rancher v2.15.0, pkg/controllers/provisioningv2/fleetcluster/fleetcluster.go createCluster:
//   the fleet.cattle.io Cluster is named after the provisioning Cluster (itself named after the
//   management Cluster, provisioningv2/cluster/controller.go generateProvisioningClusterFromLegacyCluster),
//   in the management Cluster's fleet workspace (fleet-default), and its labels are the management
//   Cluster's labels without keys containing "cattle.io/" (wrangler v3.7.0 yaml.CleanAnnotationsForExport)
//   plus management.cattle.io/cluster-name and -display-name. It is written through wrangler's apply
//   (three-way merge against its last applied state), re-run on every change of the management Cluster
//   (relatedresource.Watch in provisioningv2/cluster/controller.go): a label removed from the
//   management Cluster is removed from the Fleet Cluster, a label someone else put on the Fleet
//   Cluster stays.
// - rancher/webhook v0.11.0 (the webhookVersion in rancher v2.15.0 build.yaml),
//   pkg/resources/management.cattle.io/v3/cluster: checks annotations and spec of a management
//   Cluster, never its labels.
// - rancher/fleet v0.16.1, internal/cmd/controller/target/matcher/clustermatcher.go: a target's
//   clusterSelector is a metav1.LabelSelector matched against the Fleet Cluster's own labels.
// - rancher/cluster-api-addon-provider-fleet v0.14.0, src/api/capi_cluster.rs to_cluster: the Fleet
//   Cluster it creates (in the CAPI Cluster's namespace) carries all of the CAPI Cluster's labels, so a
//   `caapf` cluster needs nothing from the controller.
//
// So the controller puts llmstack's keys of the CAPI Cluster on the management Cluster, and Rancher
// carries them to the Fleet Cluster on every version; a later Turtles that copies them too writes the
// same values.
import { isLlmstackLabelKey } from '../render/labels.js';
import { isFleetAddonCluster } from './autoimport.js';
import type { ObjectLike } from './report.js';

/** llmstack's labels of a CAPI Cluster: the ones its Rancher cluster must carry. */
export function targetingLabels(cluster: ObjectLike): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(cluster.metadata?.labels ?? {})) if (isLlmstackLabelKey(k)) out[k] = v;
  return out;
}

export interface TargetingChange {
  /** All of llmstack's labels the Rancher cluster should carry (the whole applied set). */
  labels: Record<string, string>;
  /** llmstack's keys on the Rancher cluster the CAPI Cluster no longer has. */
  stale: string[];
}

/**
 * What to write on the Rancher cluster of `cluster`, or undefined when it already carries exactly the
 * CAPI Cluster's llmstack labels. Labels of other keys are never touched. A `caapf` cluster gets
 * nothing: CAAPF copies the labels to its Fleet Cluster itself.
 */
export function targetingChange(cluster: ObjectLike, rancherCluster: ObjectLike): TargetingChange | undefined {
  if (isFleetAddonCluster(cluster) || rancherCluster.metadata?.deletionTimestamp) return undefined;
  const labels = targetingLabels(cluster);
  const current = targetingLabels(rancherCluster);
  const stale = Object.keys(current)
    .filter((k) => !(k in labels))
    .sort();
  const differs = Object.entries(labels).some(([k, v]) => current[k] !== v);
  return differs || stale.length > 0 ? { labels, stale } : undefined;
}
