// The "New goal" form's checks, which mirror the goals API's (PROTOCOL B9.2), and the picker label.
import { describe, expect, it } from 'vitest';
import { goalLabel } from '../src/format.js';
import { checkGoal, GOAL_TYPES, today } from '../src/goals.js';

const VALID = {
  title: ' Walk 10000 steps a day ', goal_type: 'activity', target_value: '10000',
  target_unit: 'steps', start_date: '2025-11-17', target_date: '',
};

describe('goals', () => {
  it('test_goals_check_builds_the_create_body', () => {
    const { goal, problems } = checkGoal({ ...VALID, target_date: '2026-01-16' });
    expect(problems).toEqual({});
    expect(goal).toEqual({
      title: 'Walk 10000 steps a day', goal_type: 'activity', target_value: 10000,
      target_unit: 'steps', start_date: '2025-11-17', target_date: '2026-01-16',
    });
    expect('target_date' in checkGoal(VALID).goal).toBe(false);
    expect(checkGoal({ ...VALID, target_value: '0' }).problems).toEqual({});
  });

  it('test_goals_check_names_every_bad_field', () => {
    const { problems } = checkGoal({ title: '  ', goal_type: 'sleep', target_value: '', target_unit: '', start_date: '' });
    expect(Object.keys(problems).sort()).toEqual(['goal_type', 'start_date', 'target_unit', 'target_value', 'title']);
    const more = [
      [{ target_value: '-1' }, 'target_value'],
      [{ target_value: 'ten' }, 'target_value'],
      [{ title: 't'.repeat(201) }, 'title'],
      [{ target_unit: 'u'.repeat(51) }, 'target_unit'],
      [{ start_date: '2025-02-30' }, 'start_date'],
      [{ target_date: '16/01/2026' }, 'target_date'],
    ];
    for (const [change, field] of more) expect(Object.keys(checkGoal({ ...VALID, ...change }).problems)).toEqual([field]);
  });

  it('test_goals_types_are_the_four_of_the_goals_api', () => {
    expect(GOAL_TYPES.map(([value]) => value).sort()).toEqual(['activity', 'custom', 'nutrition', 'weight']);
  });

  it('test_goals_today_is_a_local_calendar_date', () => {
    expect(today(new Date(2026, 0, 5, 23, 59))).toBe('2026-01-05');
  });

  it('test_goals_picker_label_shows_progress_when_known', () => {
    expect(goalLabel({ id: 'g', title: 'Walk 10000 steps a day', target: '10000 steps', progress: 40 })).toBe('Walk 10000 steps a day \u00b7 40%');
    expect(goalLabel({ id: 'g', title: 'Sleep', target: '8 h', progress: null })).toBe('Sleep (target: 8 h)');
  });
});
