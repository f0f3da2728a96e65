# tools/bench/varnish.vcl — Varnish for the cache scenarios (S4, S3c): round robin over the three
# origins, 256 MiB malloc storage (command line), gzip stored once for JSON (do_gzip), and an
# X-Cache header that says whether the answer was a hit.
# Upper-case words between at-signs are filled in by tools/bench/bench.
vcl 4.1;
import directors;

backend o1 { .host = "127.0.0.1"; .port = "@ORIGIN1@"; }
backend o2 { .host = "127.0.0.1"; .port = "@ORIGIN2@"; }
backend o3 { .host = "127.0.0.1"; .port = "@ORIGIN3@"; }

sub vcl_init {
    new s1 = directors.round_robin();
    s1.add_backend(o1);
    s1.add_backend(o2);
    s1.add_backend(o3);
}

sub vcl_recv {
    set req.backend_hint = s1.backend();
}

sub vcl_backend_response {
    if (beresp.http.Content-Type ~ "application/json") {
        set beresp.do_gzip = true;
    }
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
