package projections

// CPUTime is cpuTime for the external tests: BenchmarkRebuild's CPU figure.
var CPUTime = cpuTime
