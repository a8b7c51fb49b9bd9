/**
 * The rule engine's pure core: rules in, committed points in → trigger candidates out. No I/O:
 * the COPY writer's commit hook (rule-hook.ts) claims the candidates' cooldowns and writes
 * their effects in the batch's own transaction.
 * @see PROTOCOL.md §11
 */

export const RULE_OPERATORS = ['gt', 'lt', 'eq', 'gte', 'lte', 'between', 'not_between'] as const;
export type RuleOperator = (typeof RULE_OPERATORS)[number];

/** `eq` matches within this distance. @see PROTOCOL.md §11 */
export const EQ_TOLERANCE = 1e-9;

/** An enabled rule, as the engine needs it. */
export interface Rule {
  readonly id: string;
  readonly event: string;
  readonly operator: RuleOperator;
  readonly threshold: number;
  readonly thresholdHigh: number | null;
  readonly cooldownSeconds: number;
}

/** Does value `v` match `operator` against the thresholds? */
export function matches(operator: RuleOperator, v: number, t: number, high: number | null): boolean {
  switch (operator) {
    case 'gt':
      return v > t;
    case 'lt':
      return v < t;
    case 'gte':
      return v >= t;
    case 'lte':
      return v <= t;
    case 'eq':
      return Math.abs(v - t) <= EQ_TOLERANCE;
    case 'between':
      return high !== null && t <= v && v <= high;
    case 'not_between':
      return high !== null && (v < t || v > high);
  }
}

/** Points of one committed message (the shape the COPY writer hands over). */
export interface PointsOfMessage {
  readonly events: readonly { readonly id: string }[];
  readonly values: Float64Array;
  readonly ts: Float64Array;
  readonly count: number;
}

/** A matching point that may trigger its rule, if the rule's cooldown allows. */
export interface Candidate {
  readonly rule: Rule;
  readonly value: number;
  readonly ts: number;
  /** Its place in commit order within the batch. */
  readonly order: number;
}

/**
 * The enabled rules by event. `evaluate` walks a batch in commit order and returns, per rule,
 * the points that could trigger it: with a cooldown only the first match (the ones after it fall
 * inside the cooldown its trigger starts), without one every match.
 */
export class RuleSet {
  private readonly byEvent = new Map<string, Rule[]>();
  readonly size: number;

  constructor(rules: readonly Rule[]) {
    for (const rule of rules) {
      const list = this.byEvent.get(rule.event);
      if (list === undefined) this.byEvent.set(rule.event, [rule]);
      else list.push(rule);
    }
    this.size = rules.length;
  }

  /**
   * Candidates of a batch. `coolingUntil(rule)` (epoch ms, 0 when unknown) lets a caller skip
   * rules it knows to be in cooldown, saving a round trip; the database decides in the end.
   */
  evaluate(messages: readonly PointsOfMessage[], now: number, coolingUntil: (rule: Rule) => number = () => 0): Candidate[] {
    if (this.size === 0) return [];
    const out: Candidate[] = [];
    const done = new Set<Rule>();
    let order = 0;
    for (const m of messages) {
      for (let i = 0; i < m.count; i++, order++) {
        const rules = this.byEvent.get((m.events[i] as { id: string }).id);
        if (rules === undefined) continue;
        const v = m.values[i] as number;
        for (const rule of rules) {
          if (done.has(rule) || !matches(rule.operator, v, rule.threshold, rule.thresholdHigh)) continue;
          if (rule.cooldownSeconds > 0) {
            done.add(rule);
            if (coolingUntil(rule) > now) continue;
          }
          out.push({ rule, value: v, ts: m.ts[i] as number, order });
        }
      }
    }
    return out;
  }
}
