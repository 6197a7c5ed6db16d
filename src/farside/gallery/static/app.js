/* farside gallery: the index (filters, counts, pages of thumbnails) and the item view (zoom and pan,
   metadata, keyboard), from data/items.js and the detail shards. Plain script, no build step: the page
   must work from file://, where nothing may be fetched, so data come as <script> files. */
(function () {
  "use strict";

  var G = window.FARSIDE_GALLERY;
  var $ = function (id) { return document.getElementById(id); };
  if (!G) {
    $("summary").textContent = "The catalogue (data/items.js) did not load.";
    return;
  }

  var PAGE_SIZE = 120;
  var FACETS = ["kind", "mission", "instrument", "camera", "mode"];
  var KIND_NAMES = { frame: "Frames", panorama: "Panoramas", anaglyph: "Anaglyphs", movie: "Movies" };
  var OSD_SCRIPT = "assets/vendor/openseadragon/openseadragon.min.js";

  // --- the catalogue --------------------------------------------------------------------------------
  var col = {};
  G.columns.forEach(function (name, i) { col[name] = i; });
  var items = G.rows.map(function (r, index) {
    var t = r[col.time];
    var item = {
      index: index, id: r[col.id], sequence: r[col.sequence], time: t,
      tw: r[col.thumb_width], th: r[col.thumb_height], shard: r[col.shard],
      day: t == null ? "" : new Date(t * 1000).toISOString().slice(0, 10),
    };
    FACETS.forEach(function (f) { item[f] = G.values[f][r[col[f]]]; });
    item.text = (item.id + " " + r[col.search]).toLowerCase();
    return item;
  });
  var byId = new Map(items.map(function (it) { return [it.id, it]; }));

  var state = { q: "", from: "", to: "", page: 1 };
  FACETS.forEach(function (f) { state[f] = ""; });
  var filtered = items;
  var counts = {};
  var groupCounts = new Map();

  function groupKey(it) { return it.mission + "\u0000" + it.instrument + "\u0000" + it.sequence; }
  function number(n) { return n.toLocaleString("en-GB"); }
  function utc(t) { return t == null ? "" : new Date(t * 1000).toISOString().slice(0, 19).replace("T", " "); }
  function label(facet, value) {
    if (facet === "kind") return KIND_NAMES[value] || value;
    return value === "" ? "(none)" : value;
  }

  /* One pass: the items that pass every filter, and for each facet the counts of its values among the
     items that pass every other filter (so each menu says what choosing a value would give). */
  function apply() {
    var words = state.q.toLowerCase().split(/\s+/).filter(Boolean);
    counts = {};
    FACETS.forEach(function (f) { counts[f] = new Map(); });
    groupCounts = new Map();
    var out = [];
    for (var i = 0; i < items.length; i++) {
      var it = items[i];
      if (state.from && (!it.day || it.day < state.from)) continue;
      if (state.to && (!it.day || it.day > state.to)) continue;
      if (words.length && !words.every(function (w) { return it.text.indexOf(w) >= 0; })) continue;
      var failed = null, misses = 0;
      for (var k = 0; k < FACETS.length && misses < 2; k++) {
        var f = FACETS[k];
        if (state[f] !== "" && it[f] !== state[f]) { failed = f; misses++; }
      }
      if (misses === 0) {
        out.push(it);
        for (k = 0; k < FACETS.length; k++) bump(counts[FACETS[k]], it[FACETS[k]]);
        bump(groupCounts, groupKey(it));
      } else if (misses === 1) {
        bump(counts[failed], it[failed]);
      }
    }
    filtered = out;
  }
  function bump(map, key) { map.set(key, (map.get(key) || 0) + 1); }

  // --- the index ------------------------------------------------------------------------------------
  function fillMenus() {
    FACETS.forEach(function (f) {
      var select = $("f-" + f);
      var total = 0;
      counts[f].forEach(function (n) { total += n; });
      var options = ['<option value="">All (' + number(total) + ")</option>"];
      G.values[f].slice().sort().forEach(function (value) {
        var n = counts[f].get(value) || 0;
        if (!n && state[f] !== value) return;
        options.push('<option value="' + escapeHtml(value) + '"' + (state[f] === value ? " selected" : "") +
          ' data-count="' + n + '">' + escapeHtml(label(f, value)) + " (" + number(n) + ")</option>");
      });
      select.innerHTML = options.join("");
      select.value = state[f];
      select.closest("label").hidden = G.values[f].length < 2 && state[f] === "";
    });
  }

  function renderIndex() {
    apply();
    fillMenus();
    var pages = Math.max(1, Math.ceil(filtered.length / PAGE_SIZE));
    state.page = Math.min(Math.max(1, state.page), pages);
    var first = (state.page - 1) * PAGE_SIZE;
    var shown = filtered.slice(first, first + PAGE_SIZE);
    $("summary").textContent = filtered.length
      ? "Showing " + number(first + 1) + "–" + number(first + shown.length) + " of " + number(filtered.length) +
        " items" + (filtered.length < items.length ? " (" + number(items.length) + " in all)" : "")
      : "No item matches (" + number(items.length) + " in all).";
    $("summary").dataset.count = filtered.length;
    var html = [], open = null;
    shown.forEach(function (it) {
      var key = groupKey(it);
      if (key !== open) {
        if (open !== null) html.push("</div></section>");
        open = key;
        html.push('<section class="group"><h2>' + escapeHtml(groupTitle(it)) + ' <span class="n">' +
          number(groupCounts.get(key) || 0) + '</span></h2><div class="cards">');
      }
      html.push(card(it));
    });
    if (open !== null) html.push("</div></section>");
    $("groups").innerHTML = html.join("");
    var pager = pagerHtml(pages);
    $("pager-top").innerHTML = pager;
    $("pager-bottom").innerHTML = pager;
  }

  function groupTitle(it) {
    var parts = [it.mission || "Other", it.instrument].filter(Boolean);
    if (it.sequence) parts.push("sequence " + it.sequence);
    return parts.join(" · ") + (it.day ? " · " + it.day : "");
  }

  function card(it) {
    var what = [it.instrument + (it.camera && it.camera.indexOf("+") < 0 ? it.camera : ""), it.mode]
      .filter(Boolean).join(" · ");
    var badge = it.kind !== "frame" ? '<span class="badge">' + escapeHtml(it.kind) + "</span>" : "";
    return '<a class="card kind-' + escapeHtml(it.kind) + '" href="#item=' + encodeURIComponent(it.id) +
      '" data-id="' + escapeHtml(it.id) + '" title="' + escapeHtml(it.id) + '">' +
      '<img src="thumbs/' + encodeURIComponent(it.id) + '.webp" width="' + it.tw + '" height="' + it.th +
      '" loading="lazy" decoding="async" alt="' + escapeHtml(it.id) + '">' +
      '<span class="caption">' + badge + escapeHtml(what || it.id) + "<br><time>" + utc(it.time) +
      "</time></span></a>";
  }

  function pagerHtml(pages) {
    if (pages < 2) return "";
    var p = state.page, out = [];
    function link(n, text, cls) {
      if (n < 1 || n > pages || n === p) {
        return '<span class="' + (cls || "") + (n === p && !cls ? " current" : " off") + '">' + text + "</span>";
      }
      return '<a href="#' + indexHash({ page: n }) + '" data-page="' + n + '" class="' + (cls || "") + '">' + text + "</a>";
    }
    out.push(link(p - 1, "‹ Previous", "step"));
    var last = 0;
    for (var n = 1; n <= pages; n++) {
      if (n === 1 || n === pages || Math.abs(n - p) <= 2) {
        if (last && n - last > 1) out.push('<span class="gap">…</span>');
        out.push(link(n, String(n)));
        last = n;
      }
    }
    out.push(link(p + 1, "Next ›", "step"));
    return out.join(" ");
  }

  function indexHash(change) {
    var s = Object.assign({}, state, change || {});
    var params = new URLSearchParams();
    ["q", "kind", "mission", "instrument", "camera", "mode", "from", "to"].forEach(function (k) {
      if (s[k]) params.set(k, s[k]);
    });
    if (s.page > 1) params.set("page", s.page);
    return params.toString();
  }

  function readFilters(params) {
    state.q = params.get("q") || "";
    FACETS.forEach(function (f) { state[f] = params.get(f) || ""; });
    state.from = params.get("from") || "";
    state.to = params.get("to") || "";
    state.page = parseInt(params.get("page") || "1", 10) || 1;
    $("q").value = state.q;
    $("f-from").value = state.from;
    $("f-to").value = state.to;
  }

  function filtersChanged() {
    state.q = $("q").value.trim();
    FACETS.forEach(function (f) { state[f] = $("f-" + f).value; });
    state.from = $("f-from").value;
    state.to = $("f-to").value;
    state.page = 1;
    history.replaceState(null, "", "#" + indexHash());
    renderIndex();
  }

  // --- the item view --------------------------------------------------------------------------------
  var details = {};
  var shardLoads = {};
  var current = null;
  var viewer = null;
  var osdLoad = null;
  var projection = null;

  var sharedSections = {};
  // A shard: each item's detail, and the sections many items share (named in an item's list by digest).
  window.FARSIDE_DETAIL = function (shard, shared) {
    Object.assign(details, shard);
    Object.assign(sharedSections, shared || {});
  };

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = function () { reject(new Error(src + " did not load")); };
      document.head.appendChild(s);
    });
  }

  function detailOf(it) {
    if (details[it.id]) return Promise.resolve(details[it.id]);
    var src = G.shards[it.shard];
    shardLoads[src] = shardLoads[src] || loadScript(src);
    return shardLoads[src].then(function () {
      if (!details[it.id]) throw new Error("no detail for " + it.id);
      return details[it.id];
    });
  }

  function osd() {
    osdLoad = osdLoad || loadScript(OSD_SCRIPT).then(function () {
      viewer = window.OpenSeadragon({
        element: $("osd"),
        drawer: "canvas", // WebGL would need the pixels of file:// images, which the browser withholds
        showNavigationControl: false,
        crossOriginPolicy: false,
        maxZoomPixelRatio: 4,
        visibilityRatio: 0.5,
        minZoomImageRatio: 0.8,
        gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: true },
      });
      ["animation", "open", "resize", "update-viewport"].forEach(function (e) { viewer.addHandler(e, drawGrid); });
      viewer.addHandler("open-failed", function () { showNote("This image could not be opened.", "error"); });
      return viewer;
    });
    return osdLoad;
  }

  function tileSource(view) {
    if (view.type === "dzi") {
      // Inline, so no XML is fetched: OpenSeadragon builds the tile URLs from Url and the layout.
      return { Image: { xmlns: "http://schemas.microsoft.com/deepzoom/2008", Url: view.url, Format: view.format,
        Overlap: String(view.overlap), TileSize: String(view.tileSize),
        Size: { Width: String(view.width), Height: String(view.height) } } };
    }
    return { type: "image", url: view.url, buildPyramid: false };
  }

  function openItem(id) {
    var it = byId.get(id);
    $("viewer").hidden = false;
    document.body.classList.add("viewing");
    if (!it) {
      current = null;
      $("v-title").textContent = "Not in this gallery: " + id;
      $("meta").innerHTML = "";
      clearStage();
      return;
    }
    current = it;
    var pos = filtered.indexOf(it);
    if (pos < 0) { resetFilters(); pos = filtered.indexOf(it); }
    $("v-title").textContent = it.id;
    $("v-position").textContent = number(pos + 1) + " / " + number(filtered.length);
    $("v-prev").disabled = pos <= 0;
    $("v-next").disabled = pos >= filtered.length - 1;
    $("v-permalink").href = "#item=" + encodeURIComponent(it.id);
    $("viewer").dataset.id = it.id;
    $("viewer").dataset.kind = it.kind;
    detailOf(it).then(function (d) { if (current === it) show(it, d); })
      .catch(function (e) { showNote(String(e.message || e), "error"); });
  }

  function clearStage() {
    var movie = $("movie");
    movie.pause();
    movie.removeAttribute("src");
    movie.removeAttribute("poster");
    movie.load();
    movie.hidden = true;
    $("note").hidden = true;
    $("readout").hidden = true;
    $("osd").hidden = true;
    $("zoom").hidden = true;
    delete $("stage").dataset.loaded;
    projection = null;
    var canvas = $("grid");
    canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
    if (viewer) viewer.close();
  }

  function show(it, d) {
    clearStage();
    $("v-full").href = d.full;
    var product = d.products.filter(function (p) { return p.href; })[0];
    $("v-product").hidden = !product;
    if (product) $("v-product").href = product.href;
    $("meta").innerHTML = metaHtml(it, d);
    if (it.kind === "anaglyph") showNote("Anaglyph: look at it through red–cyan glasses, red over the left eye.", "anaglyph");
    if (d.view.type === "video") {
      var movie = $("movie");
      movie.poster = d.view.poster;
      movie.src = d.view.url;
      movie.hidden = false;
      return;
    }
    $("osd").hidden = false;
    $("zoom").hidden = false;
    projection = it.kind === "panorama" && d.projection && d.projection.degrees_per_pixel ? d.projection : null;
    $("readout").hidden = !projection;
    $("readout").textContent = projection ? "Point at the panorama for its azimuth and elevation" : "";
    osd().then(function (v) {
      if (current !== it) return;
      v.addOnceHandler("open", function () {
        // Says when every tile the view needs has come (for people, the picture; for tests, a mark).
        var image = v.world.getItemAt(0);
        function loaded() { if (image.getFullyLoaded()) $("stage").dataset.loaded = it.id; }
        image.addHandler("fully-loaded-change", loaded);
        loaded();
      });
      v.open(tileSource(d.view));
    });
  }

  function metaHtml(it, d) {
    var out = [];
    d.sections.forEach(function (section) {
      if (typeof section === "string") section = sharedSections[section] || ["", []];
      out.push("<section><h3>" + escapeHtml(section[0]) + "</h3><dl>");
      section[1].forEach(function (row) {
        out.push("<dt>" + escapeHtml(row[0]) + "</dt><dd>" + escapeHtml(row[1]) + "</dd>");
      });
      out.push("</dl></section>");
    });
    if (d.products.length) {
      out.push('<section><h3>Original product' + (d.products.length > 1 ? "s (" + d.products.length + ")" : "") +
        '</h3><ul class="products">');
      d.products.forEach(function (p) {
        var name = escapeHtml(p.name);
        out.push("<li>" + (p.href ? '<a href="' + escapeHtml(p.href) + '" title="' + escapeHtml(p.path) + '">' +
          name + "</a>" : '<span title="' + escapeHtml(p.path) + '">' + name + "</span>") + "</li>");
      });
      out.push("</ul></section>");
    }
    out.push("<section><h3>File</h3><dl><dt>Output</dt><dd><a href=\"" + escapeHtml(d.full) + '">' +
      escapeHtml(d.name) + "</a></dd><dt>Size</dt><dd>" + number(d.width) + " × " + number(d.height) +
      " pixels, " + number(d.bytes) + " bytes</dd><dt>Sidecar</dt><dd><a href=\"" + escapeHtml(d.sidecar) +
      '">' + escapeHtml(d.name) + ".json</a></dd></dl></section>");
    return out.join("");
  }

  function showNote(text, cls) {
    var note = $("note");
    note.textContent = text;
    note.className = cls || "";
    note.hidden = false;
  }

  function step(delta) {
    if (!current) return;
    var pos = filtered.indexOf(current) + delta;
    if (pos < 0 || pos >= filtered.length) return;
    location.replace("#item=" + encodeURIComponent(filtered[pos].id));
  }

  function closeItem() {
    if (current) {
      var pos = filtered.indexOf(current);
      if (pos >= 0) state.page = Math.floor(pos / PAGE_SIZE) + 1;
    }
    location.hash = indexHash();
  }

  function resetFilters() {
    readFilters(new URLSearchParams(""));
    apply();
  }

  // --- panoramas: angles under the pointer, and a degree grid ---------------------------------------
  var RAD = Math.PI / 180;
  function azimuthAt(x) { return projection.azimuth_left_deg + x * projection.degrees_per_pixel; }
  function xAt(az) { return (az - projection.azimuth_left_deg) / projection.degrees_per_pixel; }
  // x, y are image coordinates from the top-left corner: pixel (i, j)'s centre is (i + 0.5, j + 0.5).
  function elevationAt(y) {
    var p = projection;
    if (p.type === "cylindrical") return Math.atan(Math.tan(p.elevation_top_deg * RAD) - y * p.degrees_per_pixel * RAD) / RAD;
    return p.elevation_top_deg - y * p.degrees_per_pixel;
  }
  function yAt(el) {
    var p = projection;
    if (p.type === "cylindrical") return (Math.tan(p.elevation_top_deg * RAD) - Math.tan(el * RAD)) / (p.degrees_per_pixel * RAD);
    return (p.elevation_top_deg - el) / p.degrees_per_pixel;
  }
  function wrap(az) { var a = ((az + 180) % 360 + 360) % 360 - 180; return a === -180 ? 180 : a; }
  function degrees(v, digits) { return (Math.abs(v) < 0.5 * Math.pow(10, -digits) ? 0 : v).toFixed(digits) + "°"; }

  function drawGrid() {
    var canvas = $("grid"), stage = $("stage");
    var ratio = window.devicePixelRatio || 1;
    var w = stage.clientWidth, h = stage.clientHeight;
    if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
      canvas.width = Math.round(w * ratio);
      canvas.height = Math.round(h * ratio);
    }
    var ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    if (!projection || !viewer || !viewer.world.getItemCount()) return;
    var vp = viewer.viewport, P = window.OpenSeadragon.Point;
    function screen(x, y) { return vp.imageToViewerElementCoordinates(new P(x, y)); }
    function image(x, y) { return vp.viewerElementToImageCoordinates(new P(x, y)); }
    var W = projection.width, H = projection.height;
    var topLeft = screen(0, 0), bottomRight = screen(W, H);
    var perDegree = (screen(xAt(azimuthAt(0) + 1), 0).x - topLeft.x);
    var stepDeg = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 45, 90].find(function (s) { return s * perDegree >= 70; }) || 90;
    var left = Math.max(0, image(0, 0).x), right = Math.min(W, image(w, 0).x);
    var top = Math.max(0, image(0, 0).y), bottom = Math.min(H, image(0, h).y);
    var y0 = Math.max(0, topLeft.y), y1 = Math.min(h, bottomRight.y);
    var x0 = Math.max(0, topLeft.x), x1 = Math.min(w, bottomRight.x);
    var digits = stepDeg < 1 ? 1 : 0;
    ctx.lineWidth = 1;
    ctx.font = "12px system-ui, sans-serif";
    ctx.textBaseline = "top";
    var labels = [];
    for (var az = Math.ceil(azimuthAt(left) / stepDeg) * stepDeg; az <= azimuthAt(right); az += stepDeg) {
      var sx = Math.round(screen(xAt(az), 0).x) + 0.5;
      line(ctx, sx, y0, sx, y1);
      labels.push([degrees(wrap(az), digits), sx + 3, Math.max(y0, 0) + 3]);
    }
    var highEl = elevationAt(top), lowEl = elevationAt(bottom);
    for (var el = Math.ceil(lowEl / stepDeg) * stepDeg; el <= highEl; el += stepDeg) {
      var sy = Math.round(screen(0, yAt(el)).y) + 0.5;
      line(ctx, x0, sy, x1, sy);
      if (sy > y0 + 18) labels.push([degrees(el, digits), x0 + 3, sy + 3]); // not over the azimuths
    }
    labels.forEach(function (l) {
      var width = ctx.measureText(l[0]).width;
      ctx.fillStyle = "rgba(0,0,0,0.6)";
      ctx.fillRect(l[1] - 2, l[2] - 1, width + 4, 15);
      ctx.fillStyle = "#ffd166";
      ctx.fillText(l[0], l[1], l[2]);
    });
    $("grid").dataset.step = stepDeg;
  }

  function line(ctx, ax, ay, bx, by) {
    ctx.strokeStyle = "rgba(255, 209, 102, 0.55)";
    ctx.beginPath();
    ctx.moveTo(ax, ay);
    ctx.lineTo(bx, by);
    ctx.stroke();
  }

  function readout(event) {
    if (!projection || !viewer || !viewer.world.getItemCount()) return;
    var rect = $("stage").getBoundingClientRect();
    var pt = viewer.viewport.viewerElementToImageCoordinates(
      new window.OpenSeadragon.Point(event.clientX - rect.left, event.clientY - rect.top));
    var out = $("readout");
    if (pt.x < 0 || pt.y < 0 || pt.x > projection.width || pt.y > projection.height) {
      out.textContent = "Outside the panorama";
      return;
    }
    out.textContent = "azimuth " + degrees(wrap(azimuthAt(pt.x)), 2) + "   elevation " + degrees(elevationAt(pt.y), 2);
    out.dataset.x = pt.x.toFixed(2);
    out.dataset.y = pt.y.toFixed(2);
  }

  // --- wiring ---------------------------------------------------------------------------------------
  function route() {
    var params = new URLSearchParams(location.hash.slice(1));
    if (params.has("item")) {
      openItem(params.get("item"));
      return;
    }
    if (current || !$("viewer").hidden) {
      clearStage();
      current = null;
      $("viewer").hidden = true;
      document.body.classList.remove("viewing");
    }
    readFilters(params);
    renderIndex();
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  var typing = null;
  $("q").addEventListener("input", function () {
    clearTimeout(typing);
    typing = setTimeout(filtersChanged, 120);
  });
  FACETS.concat(["from", "to"]).forEach(function (f) { $("f-" + f).addEventListener("change", filtersChanged); });
  // At once, not through a hash change (which comes later, and would undo what is typed meanwhile).
  $("reset").addEventListener("click", function () {
    readFilters(new URLSearchParams(""));
    history.replaceState(null, "", location.pathname + location.search);
    renderIndex();
  });
  $("v-prev").addEventListener("click", function () { step(-1); });
  $("v-next").addEventListener("click", function () { step(1); });
  $("v-close").addEventListener("click", closeItem);
  $("z-in").addEventListener("click", function () { if (viewer) viewer.viewport.zoomBy(1.5); });
  $("z-out").addEventListener("click", function () { if (viewer) viewer.viewport.zoomBy(1 / 1.5); });
  $("z-home").addEventListener("click", function () { if (viewer) viewer.viewport.goHome(); });
  $("stage").addEventListener("pointermove", readout);
  $("movie").addEventListener("error", function () {
    if ($("movie").getAttribute("src")) showNote("This browser cannot play this movie: open it with Full size.", "error");
  });
  window.addEventListener("resize", drawGrid);
  window.addEventListener("hashchange", route);
  // Capture, so the zoom viewer (which pans on arrow keys) does not take them first.
  window.addEventListener("keydown", function (event) {
    if ($("viewer").hidden || event.altKey || event.ctrlKey || event.metaKey) return;
    var keys = { ArrowLeft: function () { step(-1); }, ArrowRight: function () { step(1); }, Escape: closeItem,
      "+": function () { $("z-in").click(); }, "=": function () { $("z-in").click(); },
      "-": function () { $("z-out").click(); }, "0": function () { $("z-home").click(); } };
    if (keys[event.key]) {
      event.preventDefault();
      event.stopPropagation();
      keys[event.key]();
    }
  }, true);

  route();
  document.documentElement.dataset.ready = "true";
  if (window.performance && performance.mark) performance.mark("farside-index-rendered");
})();
