package testcluster

// DefaultLogsName is the default ClusterLogs, for tests that watch it.
const DefaultLogsName = defaultLogsName
