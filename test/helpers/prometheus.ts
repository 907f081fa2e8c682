import parsePrometheusTextFormat, { type PromFamily, type PromSample } from 'parse-prometheus-text-format';

/** One scrape of a /metrics URL, parsed by a Prometheus text-format parser. */
export class Scrape {
  constructor(readonly families: PromFamily[]) {}

  static async of(url: string): Promise<Scrape> {
    const response = await fetch(url);
    if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}`);
    return new Scrape(parsePrometheusTextFormat(await response.text()));
  }

  family(name: string): PromFamily | undefined {
    return this.families.find((f) => f.name === name);
  }

  /** The sample of a family whose labels are exactly `labels`; undefined if there is none. */
  sample(name: string, labels: Record<string, string> = {}): PromSample | undefined {
    const wanted = JSON.stringify(Object.entries(labels).sort());
    return this.family(name)?.metrics.find((m) => JSON.stringify(Object.entries(m.labels ?? {}).sort()) === wanted);
  }

  /** A counter's or gauge's value; 0 where the series does not exist yet. */
  value(name: string, labels: Record<string, string> = {}): number {
    const sample = this.sample(name, labels);
    return sample?.value === undefined ? 0 : Number(sample.value);
  }

  /** A histogram's observation count. */
  count(name: string, labels: Record<string, string> = {}): number {
    const sample = this.sample(name, labels);
    return sample?.count === undefined ? 0 : Number(sample.count);
  }
}
