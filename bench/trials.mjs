// Runs `trial` (an async function returning {ms, checks}) `trials` times, one after another, and
// returns the summary the propagation benchmarks print (bench/cluster/propagation.mjs,
// bench/verifier/propagation.mjs): {"trials", "p50_ms", "p99_ms", "max_ms", "mean_ms",
// "checks_per_trial"}.
export async function runTrials(trial, trials) {
  const ms = [];
  let checks = 0;
  for (let i = 0; i < trials; ++i) {
    const t = await trial();
    ms.push(t.ms);
    checks += t.checks;
  }
  ms.sort((a, b) => a - b);
  const at = (q) => ms[Math.min(ms.length - 1, Math.ceil(q * ms.length) - 1)];
  const round = (x) => Math.round(x * 1000) / 1000;
  return {
    trials,
    p50_ms: round(at(0.5)),
    p99_ms: round(at(0.99)),
    max_ms: round(ms[ms.length - 1]),
    mean_ms: round(ms.reduce((a, b) => a + b, 0) / ms.length),
    checks_per_trial: round(checks / trials),
  };
}
