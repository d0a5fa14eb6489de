/**
 * The planner's model stated for the HiGHS MILP solver (WASM, from npm). The exhaustive search in
 * `planner.ts` is what runs: on this project's 2-core machines one HiGHS solve of a 3-variant,
 * 3-setting instance took 0.1–2.3 s against a few milliseconds for the search (docs/fleet.md).
 * This formulation is kept as the independent check of the search's optimum (tests compare both)
 * and for families too large to enumerate.
 */
import type { Highs } from 'highs';
import type { FleetPlan } from './plan';
import { emptyPlan, planFromAssignment, prepareInstance, type PlanRequest } from './planner';

/** LP-format number: plain decimal, never exponent notation. */
function num(value: number): string {
  return value.toFixed(12).replace(/\.?0+$/, '') || '0';
}

/** The CPLEX-LP text of one planning instance (see `planner.ts` for the formulation). */
export function plannerLp(request: PlanRequest): string | undefined {
  const p = prepareInstance(request);
  if (typeof p === 'string') return undefined;
  const objective: string[] = [];
  const rows: string[] = [];
  const bounds: string[] = [];
  const generals: string[] = [];
  const binaries: string[] = [];
  p.options.forEach((_, g) => {
    const worth = (p.score[g] as number) / p.planned;
    objective.push(`${worth < 0 ? '-' : '+'} ${num(Math.abs(worth))} l${g}`, `- ${num(p.alpha / p.W)} w${g}`);
    rows.push(
      `cap${g}: l${g} - ${num(p.capacity[g] as number)} w${g} <= 0`,
      `one${g}: w${g} - ${p.W} y${g} <= 0`,
    );
    bounds.push(`0 <= w${g} <= ${p.W}`, `0 <= l${g} <= ${num(p.planned)}`);
    generals.push(`w${g}`);
    binaries.push(`y${g}`);
  });
  p.variants.forEach((name, v) => {
    const groups = p.options.map((_, g) => g).filter((g) => p.variantOf[g] === v);
    const load = p.options[groups[0] as number]?.loadSeconds ?? 0;
    objective.push(`- ${num((p.beta * load) / p.maxLoad)} s${v}`);
    rows.push(`setting${v}: ${groups.map((g) => `+ y${g}`).join(' ')} <= 1`);
    const current = request.current?.get(name) ?? 0;
    rows.push(`started${v}: s${v} ${groups.map((g) => `- w${g}`).join(' ')} >= ${-current}`);
    bounds.push(`s${v} >= 0`);
  });
  const all = (prefix: string) => p.options.map((_, g) => `+ ${prefix}${g}`).join(' ');
  rows.push(
    `demand: ${all('l')} = ${num(p.planned)}`,
    `budget: ${all('w')} <= ${p.W}`,
    `floor: ${all('w')} >= ${p.minWorkers}`,
  );
  return [
    'Maximize',
    ` obj: ${objective.join(' ')}`,
    'Subject To',
    ...rows.map((r) => ` ${r}`),
    'Bounds',
    ...bounds.map((b) => ` ${b}`),
    'General',
    ` ${generals.join(' ')}`,
    'Binary',
    ` ${binaries.join(' ')}`,
    'End',
  ].join('\n');
}

/** Plans one interval with HiGHS; the same plan shape (and, by the tests, the same optimum) as `planFleet`. */
export function planFleetMilp(highs: Highs, request: PlanRequest): FleetPlan {
  const p = prepareInstance(request);
  if (typeof p === 'string') return emptyPlan(request, p);
  const lp = plannerLp(request) as string;
  const result = highs.solve(lp, { output_flag: false, mip_rel_gap: 1e-9 });
  if (result.Status !== 'Optimal')
    return emptyPlan(request, `the solver ended with status "${result.Status}"`);
  const workers = p.options.map((_, g) => Math.round(result.Columns[`w${g}`]?.Primal ?? 0));
  return planFromAssignment(request, p, workers);
}
