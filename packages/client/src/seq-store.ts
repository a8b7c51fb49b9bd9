/**
 * Where a producer keeps its `seq` high-water mark, so that a restarted device never sends a
 * `seq` it used before (the hub would take it for a retry and store nothing). The producer
 * reserves seqs in blocks and saves the end of each block before using it: one write per block,
 * and after a crash it starts past every seq it may have used. @see PROTOCOL.md §6
 */

export interface SeqStore {
  /** The highest seq reserved so far, or undefined when nothing was ever saved. */
  load(): number | undefined | Promise<number | undefined>;
  /** Records that seqs up to `seq` may be in use. */
  save(seq: number): void | Promise<void>;
}

/**
 * Keeps the mark in memory only. It starts from the clock (`Date.now() * 1000`), so even a
 * device that forgets everything at restart starts above the seqs it used before, as long as
 * its clock does not go back and it sends fewer than 1000 messages a millisecond.
 */
export class MemorySeqStore implements SeqStore {
  private value: number | undefined;
  constructor(initial?: number) {
    this.value = initial;
  }
  load(): number {
    return this.value ?? Date.now() * 1000;
  }
  save(seq: number): void {
    this.value = seq;
  }
}
