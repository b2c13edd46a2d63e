// Package docs holds the project's documentation (the Markdown files of
// this directory) and, in its tests, the checks that keep the
// documentation navigable: every relative link and anchor in the
// repository's Markdown resolves to a file and a heading, no link leaves
// the repository (the docs are read where the cluster's operators can
// reach no other site), and every path under docs/ that code or chart
// files cite exists. It has no code of its own.
package docs
