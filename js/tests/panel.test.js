// The panel's task scheduling: slices of a long history run as separate tasks, cancellable.
import { describe, expect, it } from 'vitest';
import { nextTask } from '../src/panel.js';

const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('nextTask', () => {
  it('test_panel_next_task_runs_after_the_current_task_in_order', async () => {
    const seen = [];
    nextTask(() => seen.push('a'));
    nextTask(() => seen.push('b'));
    seen.push('sync');
    expect(seen).toEqual(['sync']);
    await settle();
    expect(seen).toEqual(['sync', 'a', 'b']);
  });

  it('test_panel_next_task_cancelled_never_runs', async () => {
    const seen = [];
    const task = nextTask(() => seen.push('cancelled'));
    nextTask(() => seen.push('kept'));
    task.cancel();
    await settle();
    expect(seen).toEqual(['kept']);
  });
});
