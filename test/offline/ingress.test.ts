// Optional TLS Ingresses: cert-manager's ingress-shim issues a certificate for an Ingress whose
// annotation names the issuer and whose tls section names the Secret.
import { describe, expect, it } from 'vitest';
import { issuerAnnotations, openwebuiIngressValues, renderIngress } from '../../src/render/apps/ingress.js';

describe('ingress', () => {
  it('names a ClusterIssuer or an Issuer with the annotation cert-manager reads for each', () => {
    expect(issuerAnnotations({ host: 'a.example.test', tls: { issuer: 'le', kind: 'ClusterIssuer' } })).toEqual({ 'cert-manager.io/cluster-issuer': 'le' });
    expect(issuerAnnotations({ host: 'a.example.test', tls: { issuer: 'ca', kind: 'Issuer' } })).toEqual({ 'cert-manager.io/issuer': 'ca' });
    expect(issuerAnnotations({ host: 'a.example.test' })).toBeUndefined();
  });

  it('routes the host to the service port http, with TLS only when asked', () => {
    const plain = renderIngress('litellm', { host: 'llm.example.test' }, {});
    expect(plain.spec).toEqual({
      ingressClassName: undefined,
      tls: undefined,
      rules: [{ host: 'llm.example.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'litellm', port: { name: 'http' } } } }] } }],
    });
    const tls = renderIngress('litellm', { host: 'llm.example.test', className: 'nginx', tls: { issuer: 'le', kind: 'ClusterIssuer' } }, {});
    expect(tls.spec).toMatchObject({ ingressClassName: 'nginx', tls: [{ hosts: ['llm.example.test'], secretName: 'litellm-tls' }] });
  });

  it("gives Open WebUI's chart (15.1.0) its ingress values", () => {
    expect(openwebuiIngressValues({ host: 'chat.example.test', tls: { issuer: 'le', kind: 'ClusterIssuer' } })).toEqual({
      enabled: true,
      class: '',
      host: 'chat.example.test',
      tls: true,
      annotations: { 'cert-manager.io/cluster-issuer': 'le' },
    });
  });
});
