// The rule about the replica secret when replicas run on Kubernetes, in one place for both checks:
// config.ts refuses a cluster whose default is Kubernetes at start, and manager_router.ts fails the
// deploy of a model whose container.manager is kubernetes on any other cluster, when the Kubernetes
// manager is first connected. Pods read the secret from a Kubernetes Secret (deployment_spec.ts), so
// a frontend that checks replicas' proofs must hold the same one, read from replicaSecretFile; a
// secret of its own would fail every pod's handshake. No imports: config.ts loads it at start.

/** What config.replicaSecretFile must be, worded as the configuration's messages are: `config.replicaSecretFile <rule> (got "")`. */
export const kReplicaSecretFileRule =
  "must name the file holding the replica secret (the Secret kubernetesReplicaSecret's key 'secret', mounted in the " +
  "frontend pod: clipper k8s manifests does this) when replicas run on Kubernetes, or set replicaAuth 'off'";

/** The whole message for a frontend with replica auth on and no replicaSecretFile. */
export function replicaSecretFileMissing(): string {
  return `config.replicaSecretFile ${kReplicaSecretFileRule} (got "")`;
}
