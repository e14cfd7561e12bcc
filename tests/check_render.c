/* Unit tests of render/'s escaping: every hostile byte a profiled program
 * can put in a name comes out inert in XML (SVG, HTML) and JSON. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "render/render-internal.h"

/* What an escaper writes for s[0..len), NUL-terminated; the caller frees. */
static char *escaped(void (*escape)(FILE *, const char *, size_t), const char *s, size_t len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	ck_assert_ptr_nonnull(f);
	escape(f, s, len);
	fclose(f);
	return buf;
}

static const struct {
	const char *in;
	size_t len;
	const char *xml, *json;
} cases[] = {
	{ "plain", 5, "plain", "plain" },
	{ "a&b<c>d", 7, "a&amp;b&lt;c&gt;d", "a&b<c>d" },
	{ "\"q\" 'a'", 7, "&quot;q&quot; &#39;a&#39;", "\\\"q\\\" 'a'" },
	{ "back\\slash", 10, "back\\slash", "back\\\\slash" },
	{ "line\nbreak\ttab\r", 15, "line&#10;break&#9;tab&#13;", "line\\u000abreak\\u0009tab\\u000d" },
	{ "nul\0here", 8, "nul\xef\xbf\xbdhere", "nul\\u0000here" },
	{ "bell\x07 del\x7f", 10, "bell\xef\xbf\xbd del\xef\xbf\xbd", "bell\\u0007 del\\u007f" },
	{ "</script>", 9, "&lt;/script&gt;", "<\\/script>" },
	{ "]]>", 3, "]]&gt;", "]]>" },
	{ "caf\xc3\xa9", 5, "caf\xc3\xa9", "caf\xc3\xa9" },
	{ "bad\xff\xfe utf8", 10, "bad\xef\xbf\xbd\xef\xbf\xbd utf8", "bad\\ufffd\\ufffd utf8" },
	{ "cut\xe2\x82", 5, "cut\xef\xbf\xbd\xef\xbf\xbd", "cut\\ufffd\\ufffd" },
	{ "overlong\xc0\xaf", 10, "overlong\xef\xbf\xbd\xef\xbf\xbd", "overlong\\ufffd\\ufffd" },
	{ "surrogate\xed\xa0\x80", 12, "surrogate\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "surrogate\\ufffd\\ufffd\\ufffd" },
	{ "forged;frame 999\n", 17, "forged;frame 999&#10;", "forged;frame 999\\u000a" },
};

START_TEST(test_xml_escape)
{
	char *out = escaped(xml_escape, cases[_i].in, cases[_i].len);
	ck_assert_str_eq(out, cases[_i].xml);
	free(out);
}
END_TEST

START_TEST(test_json_escape)
{
	char *out = escaped(json_escape, cases[_i].in, cases[_i].len);
	ck_assert_str_eq(out, cases[_i].json);
	free(out);
}
END_TEST

/* Every byte value, alone and after a lead byte: XML output never holds a
 * raw markup character or control, JSON output never a raw quote, backslash
 * (unescaped) or control. */
START_TEST(test_every_byte_is_inert)
{
	for (int b = 0; b < 256; b++) {
		char in[3] = { 'x', (char)b, (char)0xc3 };
		for (size_t len = 2; len <= 3; len++) {
			char *x = escaped(xml_escape, in, len);
			for (const unsigned char *p = (const unsigned char *)x; *p; p++)
				ck_assert_msg(!strchr("<>\"'", *p) && (*p >= 0x20 || *p == 0) && *p != 0x7f,
					      "byte %#x: raw %#x in XML", b, *p);
			free(x);
			char *j = escaped(json_escape, in, len);
			for (const unsigned char *p = (const unsigned char *)j; *p; p++) {
				ck_assert_msg(*p >= 0x20 && *p != 0x7f && *p != '"', "byte %#x: raw %#x in JSON", b, *p);
				if (*p == '\\') {
					ck_assert_msg(strchr("\"\\/u", p[1]), "byte %#x: bad escape", b);
					p++;
				}
			}
			free(j);
		}
	}
}
END_TEST

START_TEST(test_utf8_counting)
{
	const char s[] = "a\xc3\xa9\xe2\x82\xac\xff" "b";
	size_t len = sizeof(s) - 1;
	ck_assert_uint_eq(utf8_count(s, len), 5); /* a, é, €, an invalid byte, b */
	ck_assert_uint_eq(utf8_truncate(s, len, 1), 1);
	ck_assert_uint_eq(utf8_truncate(s, len, 2), 3);  /* never splits é */
	ck_assert_uint_eq(utf8_truncate(s, len, 3), 6);
	ck_assert_uint_eq(utf8_truncate(s, len, 4), 7);
	ck_assert_uint_eq(utf8_truncate(s, len, 100), len);
	ck_assert_uint_eq(utf8_truncate("\xe2\x82", 2, 1), 1); /* a cut sequence: one byte at a time */
}
END_TEST

/* A sample with an empty stack (the format allows it) renders everywhere. */
START_TEST(test_empty_stack_renders)
{
	struct profile p;
	profile_init(&p);
	ck_assert_int_eq(profile_add_value_type(&p, "samples", "count"), 0);
	int64_t values[PROFILE_MAX_VALUES] = { 3 };
	ck_assert_int_eq(profile_add_sample(&p, PROFILE_NONE, 1, 0, values), 0);
	FILE *out = fopen("/dev/null", "w");
	ck_assert_int_eq(render_pprof(&p, out), 0);
	struct render_select sel = { 0 };
	ck_assert_int_eq(render_speedscope(&p, &sel, out), 0);
	ck_assert_int_eq(render_folded(&p, &sel, out), 0);
	fclose(out);
	profile_release(&p);
}
END_TEST

static Suite *render_suite(void)
{
	Suite *s = suite_create("render");
	TCase *tc = tcase_create("escaping");
	size_t n = sizeof(cases) / sizeof(cases[0]);
	tcase_add_loop_test(tc, test_xml_escape, 0, (int)n);
	tcase_add_loop_test(tc, test_json_escape, 0, (int)n);
	tcase_add_test(tc, test_every_byte_is_inert);
	tcase_add_test(tc, test_utf8_counting);
	tcase_add_test(tc, test_empty_stack_renders);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(render_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
