import { applyLifecycleInput, initialLifecycleState, type LifecycleInput, type LifecycleState, type RaisedEvent } from '../../workflows/endpoint-lifecycle';

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
