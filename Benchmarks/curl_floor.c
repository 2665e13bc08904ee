/* The libcurl floor: a fresh HTTPS POST with verification per iteration, nothing else.
 * usage: curl_floor URL CONNECT_TO CAFILE ITERATIONS  -> prints CPU ms per request */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

static size_t sink(char *p, size_t s, size_t n, void *u) { (void)p; (void)u; return s * n; }

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: %s URL CONNECT_TO CAFILE N\n", argv[0]); return 2; }
    int n = atoi(argv[4]);
    const char *body = "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body/></soap:Envelope>";
    curl_global_init(CURL_GLOBAL_ALL);
    struct curl_slist *pin = curl_slist_append(NULL, argv[2]);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: text/xml; charset=utf-8");
    int failures = 0;
    for (int i = 0; i < n; i++) {
        CURL *h = curl_easy_init();
        curl_easy_setopt(h, CURLOPT_URL, argv[1]);
        curl_easy_setopt(h, CURLOPT_CONNECT_TO, pin);
        curl_easy_setopt(h, CURLOPT_CAINFO, argv[3]);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        long status = 0;
        if (curl_easy_perform(h) != CURLE_OK) failures++;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status != 401) failures++;
        curl_easy_cleanup(h);
    }
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    double ms = (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000.0 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1000.0;
    printf("%.3f %d\n", ms / n, failures);
    return failures ? 1 : 0;
}
