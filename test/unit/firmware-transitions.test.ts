/** The firmware steps a device may report, against the table written out from PROTOCOL.md §13. */
import { describe, expect, it } from 'vitest';
import { REPORT_STATUSES, refusedStep, type Step } from '../../src/devices/firmware-progress.js';

const U = 'update-1';
const OTHER = 'update-2';
const FROM: Step[] = [null, 'downloading', 'verifying', 'applying', 'completed', 'failed'];

/** Written from the protocol, not from the code: from → the steps it may go to. */
const SPEC: Record<string, string[]> = {
  none: ['downloading'],
  downloading: ['verifying', 'failed'],
  verifying: ['applying', 'failed'],
  applying: ['completed', 'failed'],
  completed: ['downloading'],
  failed: ['downloading'],
};

describe('firmware steps on one update', () => {
  const cases = FROM.flatMap((from) => REPORT_STATUSES.map((to) => ({ from: from ?? 'none', to, allowed: SPEC[from ?? 'none']?.includes(to) === true })));
  it.each(cases)('$from → $to: allowed=$allowed', ({ from, to, allowed }) => {
    const current = { updatePublicId: from === 'none' ? null : U, status: from === 'none' ? null : from, updateRollingOut: true };
    const refused = refusedStep(current, U, to);
    if (allowed) expect(refused).toBeNull();
    else expect(refused).toMatch(/cannot report/);
  });
});

describe('a report on another update than the current one', () => {
  it.each(['completed', 'failed', null] as const)('starts from none when the current step is %s', (status) => {
    const current = { updatePublicId: OTHER, status, updateRollingOut: true };
    expect(refusedStep(current, U, 'downloading')).toBeNull();
    expect(refusedStep(current, U, 'verifying')).toMatch(/cannot report 'verifying' after no step/);
  });

  it.each(['downloading', 'verifying', 'applying'] as const)('is refused while the device is %s the other one', (status) => {
    const current = { updatePublicId: OTHER, status, updateRollingOut: true };
    for (const to of REPORT_STATUSES) expect(refusedStep(current, U, to)).toMatch(/another update/);
  });

  it('starts from none when the other update was withdrawn or deleted meanwhile (it does not hold the device back)', () => {
    expect(refusedStep({ updatePublicId: OTHER, status: 'applying', updateRollingOut: false }, U, 'downloading')).toBeNull();
    expect(refusedStep({ updatePublicId: null, status: 'verifying', updateRollingOut: false }, U, 'downloading')).toBeNull();
  });
});
