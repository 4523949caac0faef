// Package e2e holds dexplane's cross-component tests on real network namespaces.
package e2e
