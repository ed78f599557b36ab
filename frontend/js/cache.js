// A browser-side snapshot of a search's candidates (IndexedDB), so reopening a big search reads only
// what changed since: the API's change cursor makes "snapshot + everything after its cursor" exact.
// Any storage problem just means no cache; the page then reads everything from the API.

const DB_NAME = "nasboard";
const STORE = "search-candidates";
const KEEP = 5; // snapshots kept; the least recently saved go first

function openDb() {
  return new Promise((resolve, reject) => {
    if (!("indexedDB" in window)) {
      reject(new Error("IndexedDB unavailable"));
      return;
    }
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "id" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function done(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/**
 * The stored snapshot `{created, cursor, items}` of a search id, or null. The caller compares `created`
 * with the search's creation time: a database reset can hand the same id to another search.
 */
export async function loadSnapshot(searchId) {
  try {
    const db = await openDb();
    const row = await done(db.transaction(STORE).objectStore(STORE).get(searchId));
    db.close();
    if (!row || !Array.isArray(row.items) || !Number.isFinite(row.cursor)) return null;
    return { created: row.created, cursor: row.cursor, items: row.items };
  } catch (err) {
    console.warn("candidate cache unavailable", err);
    return null;
  }
}

const SAVED_KEY = "nasboard-snapshots"; // {searchId: savedAt}, to evict without reading big rows

export async function saveSnapshot(searchId, created, cursor, items) {
  try {
    const db = await openDb();
    const tx = db.transaction(STORE, "readwrite");
    const store = tx.objectStore(STORE);
    store.put({ id: searchId, created, cursor, items });
    const saved = JSON.parse(localStorage.getItem(SAVED_KEY) || "{}");
    saved[searchId] = Date.now();
    const oldest = Object.entries(saved)
      .sort((a, b) => a[1] - b[1])
      .slice(0, Math.max(0, Object.keys(saved).length - KEEP));
    for (const [id] of oldest) {
      store.delete(Number(id));
      delete saved[id];
    }
    await new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
    localStorage.setItem(SAVED_KEY, JSON.stringify(saved));
    db.close();
  } catch (err) {
    console.warn("could not store the candidate snapshot", err);
  }
}
