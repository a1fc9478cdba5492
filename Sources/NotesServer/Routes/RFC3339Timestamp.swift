import AuthStackCore

/// RFC 3339 UTC timestamps with microseconds, `2027-01-15T08:00:00.000000Z`, written without Foundation's formatters
/// (which allocate and take locks) because every note in every response carries two of them.
enum RFC3339Timestamp {
    /// Bytes in every timestamp this writes.
    static let length = 27

    /// `microseconds` since the Unix epoch (0 through year 9999) as UTF-8.
    static func write(_ microseconds: Int64, into output: UnsafeMutableRawBufferPointer) {
        precondition(output.count >= length)
        let seconds = microseconds.floorDividing(by: 1_000_000)
        let fraction = Int(microseconds - seconds * 1_000_000)
        let days = seconds.floorDividing(by: 86_400)
        let secondOfDay = Int(seconds - days * 86_400)
        let (year, month, day) = civilDate(daysSinceEpoch: Int(days))
        var index = 0
        func digits(_ value: Int, _ count: Int) {
            var value = value
            var position = index + count - 1
            while position >= index {
                output[position] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
                position -= 1
            }
            index += count
        }
        func byte(_ character: Unicode.Scalar) {
            output[index] = UInt8(ascii: character)
            index += 1
        }
        digits(year, 4)
        byte("-")
        digits(month, 2)
        byte("-")
        digits(day, 2)
        byte("T")
        digits(secondOfDay / 3600, 2)
        byte(":")
        digits(secondOfDay / 60 % 60, 2)
        byte(":")
        digits(secondOfDay % 60, 2)
        byte(".")
        digits(fraction, 6)
        byte("Z")
    }

    /// The timestamp as a string (tests and logs).
    static func string(_ microseconds: Int64) -> String {
        String(unsafeUninitializedCapacity: length) { buffer in
            write(microseconds, into: UnsafeMutableRawBufferPointer(buffer))
            return length
        }
    }

    /// Proleptic Gregorian year, month and day of a day count from 1970-01-01 (H. Hinnant's `civil_from_days`).
    static func civilDate(daysSinceEpoch: Int) -> (year: Int, month: Int, day: Int) {
        let shifted = daysSinceEpoch + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

extension Int64 {
    /// Division rounding towards negative infinity.
    fileprivate func floorDividing(by divisor: Int64) -> Int64 {
        let (quotient, remainder) = quotientAndRemainder(dividingBy: divisor)
        return remainder < 0 ? quotient - 1 : quotient
    }
}
