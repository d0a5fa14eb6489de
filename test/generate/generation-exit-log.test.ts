/**
 * Exit logs of the generation loop: with the loop's own tuner turning exits on, every generated
 * position is logged exactly once, in an item the exit-log table accepts, with the ramp it left
 * at and the full model's token from its deferred fill; and the agreement the logs show is the
 * agreement the loop's window tunes on.
 */
import { exitLogItemSchema, type ExitLogItem } from '../../adapters/dynamo';
import { heldOutPrompts } from '../../core/generate/corpus-prompts';
import { MOBY_GPT_DIR } from '../../core/generate/fixture';
import { generationLogItem, recordGenerationLogs } from '../../gpu-worker/generate/generation-exit-log';
import { GenerationLoop, type GenerationEvent } from '../../gpu-worker/generate/generation-loop';

jest.setTimeout(300_000);

describe('exit logs of the generation loop', () => {
  it('logs every generated position once, exited ones with the full model’s token from their fill', async () => {
    // Given the serving loop on moby-gpt, retuning every 64 records at 99% agreement
    const loop = await GenerationLoop.open({ modelDir: MOBY_GPT_DIR, maxRows: 8, retuneEveryTokens: 64 });
    const items: ExitLogItem[] = [];
    const events: GenerationEvent[] = [];
    const record = recordGenerationLogs({
      model: 'moby-gpt',
      workerId: 'test',
      writer: { record: (item) => items.push(item) },
    });
    loop.on((event) => {
      events.push(event);
      record(event);
    });
    const emitted = new Map<string, number>();
    loop.on((event) => {
      if (event.type === 'token') emitted.set(event.id, (emitted.get(event.id) ?? 0) + 1);
    });

    // When it generates 40 tokens for each of 16 held-out prompts, eight rows at a time
    const prompts = await heldOutPrompts(16, 40);
    for (let wave = 0; wave < 2; wave++) {
      prompts
        .slice(wave * 8, wave * 8 + 8)
        .forEach((prompt, i) =>
          loop.submit({ id: `r${wave * 8 + i}`, prompt: new TextEncoder().encode(prompt), maxTokens: 40 }),
        );
      while (loop.activeRows > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await loop.close();

    // Then every item passes the exit-log schema, marked as generation
    for (const item of items) {
      expect(() => exitLogItemSchema.parse(item)).not.toThrow();
      expect(item.kind).toBe('generate');
    }
    // And each generated token's position is logged exactly once (held positions drain before a row leaves)
    const requests = items.flatMap((item) => item.requests);
    const ids = requests.map((r) => r.requestId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe([...emitted.values()].reduce((a, b) => a + b, 0));
    expect(ids.length).toBe(16 * 40);

    // And the loop turned exits on by itself, so some positions left at a ramp and were filled later
    const retunes = events.filter((e) => e.type === 'retuned');
    expect(retunes.length).toBeGreaterThan(0);
    const exited = requests.filter((r) => r.exit !== 'final');
    expect(exited.length).toBeGreaterThan(0);
    for (const r of exited) {
      expect(r.ramps.map((ramp) => ramp.id)).toContain(r.exit);
      expect(r.finalMs).toBeGreaterThanOrEqual(r.releasedMs);
    }

    // And the logged agreement is the loop's: the share of positions whose released token equals the full model's
    const agreeing = requests.filter(
      (r) =>
        r.exit === 'final' || r.ramps.find((ramp) => ramp.id === r.exit)?.prediction === r.finalPrediction,
    ).length;
    const steps = events.filter((e): e is Extract<GenerationEvent, { type: 'step' }> => e.type === 'step');
    expect(agreeing).toBe(steps.reduce((sum, s) => sum + s.agreeing, 0));
    expect(requests.length).toBe(steps.reduce((sum, s) => sum + s.verdicts, 0));
  });

  it('keeps the per-token agreement it serves at or above the constraint, tuning with headroom', async () => {
    // Given the serving loop at a 99% constraint, retuning every 64 records
    const loop = await GenerationLoop.open({ modelDir: MOBY_GPT_DIR, maxRows: 8, retuneEveryTokens: 64 });
    const events: GenerationEvent[] = [];
    loop.on((event) => events.push(event));

    // When it generates 40 tokens for each of 48 held-out prompts, eight rows at a time
    const prompts = await heldOutPrompts(48, 40);
    for (let wave = 0; wave < 6; wave++) {
      prompts
        .slice(wave * 8, wave * 8 + 8)
        .forEach((prompt, i) =>
          loop.submit({ id: `r${wave * 8 + i}`, prompt: new TextEncoder().encode(prompt), maxTokens: 40 }),
        );
      while (loop.activeRows > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await loop.close();

    // Then, from its first retune on, most tokens exit and the released tokens agree with the full
    // model's at least 99% of the time, measured by the deferred fills
    const first = events.findIndex((e) => e.type === 'retuned');
    expect(first).toBeGreaterThan(0);
    const steps = events
      .slice(first)
      .filter((e): e is Extract<GenerationEvent, { type: 'step' }> => e.type === 'step');
    const verdicts = steps.reduce((sum, s) => sum + s.verdicts, 0);
    const agreeing = steps.reduce((sum, s) => sum + s.agreeing, 0);
    const exited = steps.reduce((sum, s) => sum + s.exits.slice(0, -1).reduce((a, b) => a + b, 0), 0);
    expect(agreeing / verdicts).toBeGreaterThanOrEqual(0.99);
    expect(exited / verdicts).toBeGreaterThan(0.3);
    expect(steps.at(-1)?.windowAgreement).toBeGreaterThanOrEqual(0.99);
  });

  it('writes no item for a step that completed no position', () => {
    const step = {
      type: 'step' as const,
      stepMs: 1,
      rows: 1,
      segmentRows: [1, 0, 0],
      segmentMs: [1, 0, 0],
      exits: [1, 0, 0],
      verdicts: 0,
      agreeing: 0,
      thresholds: [0.1, 0.1],
      thresholdsVersion: 1,
      windowAgreement: 1,
      records: [],
    };
    expect(generationLogItem('moby-gpt', step, 'b0', Date.now())).toBeUndefined();
  });
});
