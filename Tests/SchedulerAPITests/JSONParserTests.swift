import Testing
@testable import SchedulerAPI

@Suite struct JSONParserTests {
    @Test func parsesEveryKindOfValue() throws {
        let value = try JSONParser.parse(#"{"a": [1, -2.5e3, true, false, null], "b": "x\n\u00e9\ud83d\ude00"}"#)
        #expect(value["a"] == .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null]))
        #expect(value["b"] == .string("x\né😀"))
    }

    @Test func keepsMemberOrderAndRoundTrips() throws {
        let text = #"{"z":1,"a":{"y":[],"b":{}},"s":"q\"\\"}"#
        let value = try JSONParser.parse(text)
        #expect(value.serialized() == text)
        #expect(try JSONParser.parse(value.serialized(pretty: true)) == value)
    }

    @Test(arguments: [
        ("", "line 1, column 1: the document is empty"),
        ("{\"a\":1,}", "line 1, column 8: unexpected '}', expected a member name in double quotes"),
        ("{\"a\":1,\n \"a\":2}", "line 2, column 2: duplicate key \"a\""),
        ("[1 2]", "line 1, column 4: unexpected '2', expected ',' or ']'"),
        ("{\"a\": 01}", "line 1, column 7: invalid number: leading zeros are not allowed"),
        ("\"abc", "line 1, column 5: unterminated string"),
        ("[1] x", "line 1, column 5: unexpected 'x' after the end of the document"),
        ("tru", "line 1, column 1: invalid literal, expected 'true'"),
        ("\"\\ud800\"", "line 1, column 2: unpaired surrogate in \\u escape"),
        ("\"a\tb\"", "line 1, column 3: control character in string (escape it)"),
    ])
    func reportsWhereTheErrorIs(input: String, message: String) {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(input) }
        do {
            _ = try JSONParser.parse(input)
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func refusesInvalidUTF8AndWrongEncodings() {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse([0x22, 0xE0, 0x80, 0x80, 0x22]) }  // overlong
        // UTF-16 with a byte order mark.
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse([0xFF, 0xFE, 0x7B, 0x00, 0x7D, 0x00]) }
        // A UTF-8 byte order mark is accepted.
        #expect((try? JSONParser.parse([0xEF, 0xBB, 0xBF, 0x7B, 0x7D])) == .object([]))
    }

    @Test func limitsNesting() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(deep) }
        let fine = String(repeating: "[", count: 60) + String(repeating: "]", count: 60)
        #expect((try? JSONParser.parse(fine)) != nil)
    }

    @Test func keepsHugeNumbersAsWritten() throws {
        let value = try JSONParser.parse("[123456789012345678901234567890, 1e999]")
        #expect(value == .array([.number("123456789012345678901234567890"), .number("1e999")]))
    }
}
