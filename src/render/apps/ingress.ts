// Optional Ingresses for Open WebUI and LiteLLM. With tls set, cert-manager's ingress-shim issues
// the certificate named in the Ingress's tls section from the issuer its annotation names.
import type { KubeObject } from '../../catalog/types.js';
import type { Ingress } from '../../spec/schema.js';

export function issuerAnnotations(ingress: Ingress): Record<string, string> | undefined {
  if (!ingress.tls) return undefined;
  const key = ingress.tls.kind === 'ClusterIssuer' ? 'cert-manager.io/cluster-issuer' : 'cert-manager.io/issuer';
  return { [key]: ingress.tls.issuer };
}

/** An Ingress to a Service's named port `http`; its certificate goes to Secret `<name>-tls`. */
export function renderIngress(name: string, ingress: Ingress, labels: Record<string, string>): KubeObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, labels, annotations: issuerAnnotations(ingress) },
    spec: {
      ingressClassName: ingress.className,
      tls: ingress.tls ? [{ hosts: [ingress.host], secretName: `${name}-tls` }] : undefined,
      rules: [{ host: ingress.host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name, port: { name: 'http' } } } }] } }],
    },
  };
}

/** Chart open-webui 15.1.0 values for the same (templates/ingress.yaml; secret open-webui-tls). */
export function openwebuiIngressValues(ingress: Ingress): Record<string, unknown> {
  return { enabled: true, class: ingress.className ?? '', host: ingress.host, tls: !!ingress.tls, annotations: issuerAnnotations(ingress) ?? {} };
}
