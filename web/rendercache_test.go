package web

import (
	"bytes"
	"testing"
	"time"
)

func TestRenderCache(t *testing.T) {
	c := newRenderCache(10)
	k := func(h string) renderKey { return renderKey{handle: h, view: "json"} }
	body := []byte("abcd")
	c.put(k("a"), body)
	body[0] = 'X' // the cache keeps its own copy
	if got, ok := c.get(k("a")); !ok || !bytes.Equal(got, []byte("abcd")) {
		t.Fatalf("get(a) = %q, %v", got, ok)
	}
	c.putText(k("b"), "efgh")
	c.get(k("a"))                 // a is now more recent than b
	c.put(k("c"), []byte("ijkl")) // 12 bytes > 10: the least recent (b) goes
	if _, ok := c.get(k("b")); ok {
		t.Error("text came back as bytes")
	}
	for _, tc := range []struct {
		h    string
		want bool
	}{{"a", true}, {"b", false}, {"c", true}} {
		_, isBytes := c.get(k(tc.h))
		_, isText := c.getText(k(tc.h))
		if ok := isBytes || isText; ok != tc.want {
			t.Errorf("get(%s) present = %v, want %v", tc.h, ok, tc.want)
		}
	}
	if c.used > c.budget {
		t.Errorf("used %d bytes of a %d budget", c.used, c.budget)
	}
	c.put(k("huge"), make([]byte, 11))
	if _, ok := c.get(k("huge")); ok {
		t.Error("a body over the whole budget was kept")
	}
	c.put(k("a"), []byte("z")) // replacing adjusts the byte count
	if got, _ := c.get(k("a")); string(got) != "z" || c.used != 5 {
		t.Errorf("after replace: %q, used %d; want z and 5", got, c.used)
	}
	other := k("a")
	other.lang = "en"
	if _, ok := c.get(other); ok {
		t.Error("a key differing in language hit")
	}
}

// TestTimelineJSONIsRenderedOncePerBuild shows the API serving the bytes of
// a timeline build from the render cache, and a new build rendered anew.
func TestTimelineJSONIsRenderedOncePerBuild(t *testing.T) {
	tl := testTimeline(t)
	env := newTestEnv(t, Config{}, fakeTimelines{tl: tl})
	path := "/api/v1/patients/" + testHandle + "/timeline"
	first := env.do(t, "GET", path, "").Body.String()
	tl.Entries[0].Title = "Ændret uden ny build" // a build is immutable; this proves the bytes come from the cache
	if again := env.do(t, "GET", path, "").Body.String(); again != first {
		t.Error("the same build was rendered again")
	}
	if en := env.do(t, "GET", path+"?lang=en", "").Body.String(); !bytes.Contains([]byte(en), []byte("Ændret uden ny build")) {
		t.Error("another language did not get its own rendering")
	}
	tl.GeneratedAt = tl.GeneratedAt.Add(time.Minute)
	if next := env.do(t, "GET", path, "").Body.String(); !bytes.Contains([]byte(next), []byte("Ændret uden ny build")) {
		t.Error("a new build was served from the old rendering")
	}
}
