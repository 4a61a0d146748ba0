/**
 * OpenSSL's verdicts (Node.js error codes) on a server certificate chain that does not lead to a
 * trusted CA: the client was given the wrong CA, or none. Shared by the Kafka, Postgres and Redis
 * connections, which word them for their own settings.
 */
const UNTRUSTED_CHAIN = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);

export function isUntrustedChain(code: unknown): boolean {
  return typeof code === 'string' && UNTRUSTED_CHAIN.has(code);
}

/** A certificate outside its validity period. */
export function isExpiredCert(code: unknown): boolean {
  return code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID';
}
