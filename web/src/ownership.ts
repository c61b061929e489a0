// Which series the signed-in reader owns an episode of. The library lists
// episodes; an entry names its series when the server says so, otherwise the
// episode is looked up once (per tab) to learn it.
import { getWebtoon, type Library } from './api';

const seriesOfEpisode = new Map<string, Promise<string | null>>();

function lookUpSeries(webtoonId: string): Promise<string | null> {
  let known = seriesOfEpisode.get(webtoonId);
  if (!known) {
    known = getWebtoon(webtoonId)
      .then((w) => w.seriesId ?? null)
      .catch(() => {
        seriesOfEpisode.delete(webtoonId); // try again next time
        return null;
      });
    seriesOfEpisode.set(webtoonId, known);
  }
  return known;
}

export async function ownedSeries(library: Library): Promise<Set<string>> {
  const ids = await Promise.all(
    library.owned.map((o) => o.seriesId ?? lookUpSeries(o.webtoonId)),
  );
  return new Set(ids.filter((id): id is string => Boolean(id)));
}

/** Forgets what was learnt (tests). */
export function resetOwnershipCache(): void {
  seriesOfEpisode.clear();
}
