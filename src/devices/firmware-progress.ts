/**
 * A device's firmware progress: the steps it may report, and the one table of which step may
 * follow which. Pure: the op (domain/firmware.ts) reads the state under a row lock and asks here.
 * @see PROTOCOL.md §13
 */

/** The steps a device reports with `firmware_updates.report`. */
export const REPORT_STATUSES = ['downloading', 'verifying', 'applying', 'completed', 'failed'] as const;
export type ReportStatus = (typeof REPORT_STATUSES)[number];

/** A device's step; `null`: none yet (or its update is gone). */
export type Step = ReportStatus | null;

/** Steps in progress: an update is being installed. */
export const IN_PROGRESS: readonly ReportStatus[] = ['downloading', 'verifying', 'applying'];

/**
 * For each reported step, the steps it may follow. Every other change is refused (`409`): a
 * repeated report as well (a device that lost the reply reads its instance to know where it is).
 */
export const ALLOWED_STEPS: Readonly<Record<ReportStatus, readonly Step[]>> = {
  downloading: [null, 'completed', 'failed'],
  verifying: ['downloading'],
  applying: ['verifying'],
  completed: ['applying'],
  failed: IN_PROGRESS,
};

/** Where a device stands: the update it last reported on and its step there. */
export interface DeviceFirmware {
  readonly updatePublicId: string | null;
  readonly status: string | null;
  /** Is that update still being rolled out (`applying` or `completed`)? */
  readonly updateRollingOut: boolean;
}

/** Is `status` a step a device reports? */
export function isReportStatus(status: unknown): status is ReportStatus {
  return typeof status === 'string' && (REPORT_STATUSES as readonly string[]).includes(status);
}

/**
 * Why a report of `to` on update `updatePublicId` is refused, or null when it is allowed.
 * A report on another update than the device's current one starts from none, unless the device
 * is in the middle of that other update — and that update is still being rolled out (a withdrawn
 * or deleted update does not hold its devices back).
 */
export function refusedStep(current: DeviceFirmware, updatePublicId: string, to: ReportStatus): string | null {
  let from: Step = isReportStatus(current.status) ? current.status : null;
  if (current.updatePublicId !== updatePublicId) {
    if (from !== null && IN_PROGRESS.includes(from) && current.updatePublicId !== null && current.updateRollingOut) {
      return `The device is ${from} another update (${current.updatePublicId}); report 'failed' on that one first`;
    }
    from = null;
  }
  if (ALLOWED_STEPS[to].includes(from)) return null;
  return `A device cannot report '${to}' after ${from === null ? 'no step' : `'${from}'`} (allowed after: ${ALLOWED_STEPS[to].map((s) => s ?? 'no step').join(', ')})`;
}
