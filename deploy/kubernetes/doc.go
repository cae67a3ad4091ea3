// Package kubernetes holds no code: its tests check the kustomize bases
// beside it (every manifest decodes strictly into the k8s.io/api types, every
// resource a kustomization.yaml lists exists) and the node installer's
// containerd drop-in (loaded by a real containerd 2.x).
package kubernetes
