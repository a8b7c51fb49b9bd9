/** The rule engine's pure core: every operator on both sides of its threshold, cooldown semantics. */
import { describe, expect, it } from 'vitest';
import { EQ_TOLERANCE, RuleSet, matches, type Rule, type RuleOperator } from '../../src/automation/rules.js';

describe('matches', () => {
  it.each<[RuleOperator, number, number | null, number[], number[]]>([
    ['gt', 10, null, [10.000001, 11, 1e9], [10, 9.999999, -1]],
    ['lt', 10, null, [9.999999, -5], [10, 10.000001]],
    ['gte', 10, null, [10, 10.5], [9.999999]],
    ['lte', 10, null, [10, 9], [10.000001]],
    ['eq', 10, null, [10, 10 + EQ_TOLERANCE / 2, 10 - EQ_TOLERANCE / 2, 0.1 + 0.2 - 0.3 + 10], [10 + 1e-8, 9.99999999]],
    ['between', 10, 20, [10, 15, 20], [9.999, 20.001]],
    ['not_between', 10, 20, [9.999, 20.001, -1e9], [10, 15, 20]],
  ])('%s %d..%s', (operator, t, high, yes, no) => {
    for (const v of yes) expect(matches(operator, v, t, high), `${v}`).toBe(true);
    for (const v of no) expect(matches(operator, v, t, high), `${v}`).toBe(false);
  });

  it('between without threshold_high matches nothing (refused on write anyway)', () => {
    expect(matches('between', 5, 0, null)).toBe(false);
    expect(matches('not_between', 5, 0, null)).toBe(false);
  });
});

const rule = (over: Partial<Rule> = {}): Rule => ({ id: 'r', event: 'e', operator: 'gt', threshold: 10, thresholdHigh: null, cooldownSeconds: 60, ...over });
const batch = (...points: [string, number, number][]) => [
  { events: points.map(([id]) => ({ id })), values: Float64Array.from(points.map((p) => p[1])), ts: Float64Array.from(points.map((p) => p[2])), count: points.length },
];

describe('RuleSet.evaluate', () => {
  it('with a cooldown, only the first match of a batch is a candidate', () => {
    const set = new RuleSet([rule()]);
    const out = set.evaluate(batch(['e', 5, 1], ['e', 11, 2], ['e', 12, 3]), 0);
    expect(out.map((c) => [c.value, c.ts, c.order])).toEqual([[11, 2, 1]]);
  });

  it('without a cooldown, every match is one', () => {
    const set = new RuleSet([rule({ cooldownSeconds: 0 })]);
    expect(set.evaluate(batch(['e', 11, 1], ['e', 5, 2], ['e', 12, 3]), 0).map((c) => c.value)).toEqual([11, 12]);
  });

  it('rules see only their own event, in commit order across messages', () => {
    const set = new RuleSet([rule({ id: 'a', event: 'x' }), rule({ id: 'b', event: 'y', operator: 'lt', threshold: 0 })]);
    const out = set.evaluate([...batch(['y', -1, 1], ['x', 50, 2]), ...batch(['x', 60, 3])], 0);
    expect(out.map((c) => [c.rule.id, c.value, c.order])).toEqual([
      ['b', -1, 0],
      ['a', 50, 1],
    ]);
  });

  it('skips a rule the caller knows to be cooling down', () => {
    const r = rule();
    const set = new RuleSet([r]);
    expect(set.evaluate(batch(['e', 11, 1]), 1000, (x) => (x === r ? 2000 : 0))).toEqual([]);
    expect(set.evaluate(batch(['e', 11, 1]), 3000, (x) => (x === r ? 2000 : 0))).toHaveLength(1);
  });

  it('an empty set costs nothing', () => {
    expect(new RuleSet([]).evaluate(batch(['e', 11, 1]), 0)).toEqual([]);
  });
});
