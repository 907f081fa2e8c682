import {
  ACKNOWLEDGED_KEPT,
  ACKNOWLEDGED_KEPT_MS,
  applyLifecycleInput,
  initialLifecycleState,
  type LifecycleInput,
  type LifecycleState,
  type RaisedEvent,
} from '../../workflows/endpoint-lifecycle';

function run(inputs: LifecycleInput[], start: LifecycleState = initialLifecycleState()) {
  let state = start;
  const events: RaisedEvent[] = [];
  inputs.forEach((input, i) => {
    const result = applyLifecycleInput('ep_1', state, input, 1000 + i);
    state = result.state;
    events.push(...result.events);
  });
  return { state, events };
}

const failing = (messageId: string): LifecycleInput => ({ type: 'deliveryFailing', messageId, attempts: 4, error: 'HTTP 500' });
const recovered = (messageId: string): LifecycleInput => ({ type: 'deliveryRecovered', messageId, attempts: 6 });
const exhausted = (messageId: string, gone = false): LifecycleInput => ({ type: 'deliveryExhausted', messageId, attempts: 9, error: 'HTTP 500', gone });

test('on_failure makes the endpoint FAILING once per message, even if the signal repeats', () => {
  const { state, events } = run([failing('m1'), failing('m1')]);
  expect(state.status).toBe('FAILING');
  expect(state.failingSince).toBe(1000);
  expect(events.map((e) => [e.id, e.kind, e.messageId, e.attempts, e.error])).toEqual([['ep_1:1', 'ON_FAILURE', 'm1', 4, 'HTTP 500']]);
});

test('recovery raises on_failure_recovered, and the endpoint is ACTIVE only when no message is still failing', () => {
  const afterFirst = run([failing('m1'), failing('m2'), recovered('m1')]);
  expect(afterFirst.state.status).toBe('FAILING');
  expect(Object.keys(afterFirst.state.failing)).toEqual(['m2']);
  const afterBoth = run([recovered('m2')], afterFirst.state);
  expect(afterBoth.state.status).toBe('ACTIVE');
  expect(afterBoth.state.failingSince).toBeNull();
  expect([...afterFirst.events, ...afterBoth.events].map((e) => e.kind)).toEqual(['ON_FAILURE', 'ON_FAILURE', 'ON_FAILURE_RECOVERED', 'ON_FAILURE_RECOVERED']);
});

test('an acknowledgement of a message that never raised on_failure raises nothing', () => {
  expect(run([recovered('m9')]).events).toEqual([]);
});

test('exhaustion disables the endpoint once; 410 Gone says so in the reason', () => {
  const { state, events } = run([failing('m1'), exhausted('m1'), exhausted('m2')]);
  expect(state).toMatchObject({ status: 'DISABLED', disabledAt: 1001, failing: {} });
  expect(events.map((e) => e.kind)).toEqual(['ON_FAILURE', 'ON_DEACTIVATION']);
  expect(events[1]!.reason).toBe('retries exhausted');
  expect(run([exhausted('m1', true)]).events[0]!.reason).toBe('the endpoint answered 410 Gone');
});

test('while disabled, failures raise nothing; reactivation by hand makes it ACTIVE with a clean slate', () => {
  const disabled = run([{ type: 'disable', by: 'api' }, failing('m1')]);
  expect(disabled.state.status).toBe('DISABLED');
  expect(disabled.events.map((e) => [e.kind, e.reason])).toEqual([['ON_DEACTIVATION', 'disabled by hand (api)']]);
  const back = run(
    [
      { type: 'reactivate', by: 'api' },
      { type: 'reactivate', by: 'api' },
    ],
    disabled.state,
  );
  expect(back.state).toMatchObject({ status: 'ACTIVE', disabledAt: null, failing: {}, eventCount: 2 });
  expect(back.events.map((e) => e.kind)).toEqual(['REACTIVATED']);
});

describe('reports of a run that a takeover superseded', () => {
  const at = (seq: number) => ({ seq });
  test('a failure from an attempt older than the acknowledging one raises nothing and leaves the endpoint ACTIVE', () => {
    // The takeover's acknowledgement (attempt 5) is applied before the superseded run's report of attempt 3.
    const { state, events } = run([
      { ...recovered('m1'), ...at(5) },
      { ...failing('m1'), ...at(3) },
      { ...exhausted('m1'), ...at(4) },
    ]);
    expect(state.status).toBe('ACTIVE');
    expect(state.failing).toEqual({});
    expect(events).toEqual([]);
  });

  test('a later failure of the same message (a resend after the acknowledgement) still raises on_failure', () => {
    const { state, events } = run([
      { ...recovered('m1'), ...at(5) },
      { ...failing('m1'), ...at(9) },
    ]);
    expect(state.status).toBe('FAILING');
    expect(events.map((e) => e.kind)).toEqual(['ON_FAILURE']);
  });

  test('reports without attempt numbers (older versions) are applied as before', () => {
    const { state } = run([recovered('m1'), failing('m1')]);
    expect(state.status).toBe('FAILING');
  });

  test('the acknowledgements kept are bounded in number and in age', () => {
    const many = Array.from({ length: ACKNOWLEDGED_KEPT + 10 }, (_, i) => ({ ...recovered(`m${i}`), ...at(1) }));
    const { state } = run(many);
    expect(Object.keys(state.acknowledged!)).toHaveLength(ACKNOWLEDGED_KEPT);
    expect(state.acknowledged!.m0).toBeUndefined();
    expect(state.acknowledged![`m${ACKNOWLEDGED_KEPT + 9}`]).toEqual({ seq: 1, at: 1000 + ACKNOWLEDGED_KEPT + 9 });
    const later = applyLifecycleInput('ep_1', state, { ...recovered('fresh'), ...at(2) }, 1000 + ACKNOWLEDGED_KEPT_MS + 10_000);
    expect(Object.keys(later.state.acknowledged!)).toEqual(['fresh']);
    // Once forgotten, an old report is applied again: the window is a day, far longer than a report is delayed.
    expect(applyLifecycleInput('ep_1', later.state, { ...failing('m3'), ...at(0) }, 1).state.status).toBe('FAILING');
  });
});
