// emud: the GDB remote protocol. GPL-2.0-or-later.

/// The XML documents gdb reads with `qXfer`.
///
/// Pure functions of their inputs; safe from any thread.
enum TargetDescription {
    /// The AArch64 target description: the features `org.gnu.gdb.aarch64.core` and
    /// `org.gnu.gdb.aarch64.fpu` in the standard GDB target-description format, matching
    /// ``AArch64RegisterLayout``. gdb recognises both feature names and then treats the registers as
    /// its own AArch64 registers (sp and pc as such, v0-v31 with their q/d/s/h/b pseudo-registers).
    ///
    /// The vector types mirror the unions gdb's own description uses, so `p $v0.d.u[1]` and friends
    /// work. The bfloat16 view is left out: gdb releases before 11 do not know the type and would
    /// reject the whole description.
    static let aarch64: [UInt8] = {
        var xml = """
            <?xml version="1.0"?>
            <!DOCTYPE target SYSTEM "gdb-target.dtd">
            <target version="1.0">
              <architecture>aarch64</architecture>
              <feature name="org.gnu.gdb.aarch64.core">

            """
        for n in 0...30 {
            xml += "    <reg name=\"x\(n)\" bitsize=\"64\" type=\"int\" regnum=\"\(n)\"/>\n"
        }
        xml += """
                <reg name="sp" bitsize="64" type="data_ptr" regnum="31"/>
                <reg name="pc" bitsize="64" type="code_ptr" regnum="32"/>
                <flags id="cpsr_flags" size="4">
                  <field name="SP" start="0" end="0"/>
                  <field name="EL" start="2" end="3"/>
                  <field name="nRW" start="4" end="4"/>
                  <field name="F" start="6" end="6"/>
                  <field name="I" start="7" end="7"/>
                  <field name="A" start="8" end="8"/>
                  <field name="D" start="9" end="9"/>
                  <field name="BTYPE" start="10" end="11"/>
                  <field name="SSBS" start="12" end="12"/>
                  <field name="IL" start="20" end="20"/>
                  <field name="SS" start="21" end="21"/>
                  <field name="PAN" start="22" end="22"/>
                  <field name="UAO" start="23" end="23"/>
                  <field name="DIT" start="24" end="24"/>
                  <field name="TCO" start="25" end="25"/>
                  <field name="V" start="28" end="28"/>
                  <field name="C" start="29" end="29"/>
                  <field name="Z" start="30" end="30"/>
                  <field name="N" start="31" end="31"/>
                </flags>
                <reg name="cpsr" bitsize="32" type="cpsr_flags" regnum="33"/>
              </feature>
              <feature name="org.gnu.gdb.aarch64.fpu">
                <vector id="v2d" type="ieee_double" count="2"/>
                <vector id="v2u" type="uint64" count="2"/>
                <vector id="v2i" type="int64" count="2"/>
                <vector id="v4f" type="ieee_single" count="4"/>
                <vector id="v4u" type="uint32" count="4"/>
                <vector id="v4i" type="int32" count="4"/>
                <vector id="v8f" type="ieee_half" count="8"/>
                <vector id="v8u" type="uint16" count="8"/>
                <vector id="v8i" type="int16" count="8"/>
                <vector id="v16u" type="uint8" count="16"/>
                <vector id="v16i" type="int8" count="16"/>
                <vector id="v1u" type="uint128" count="1"/>
                <vector id="v1i" type="int128" count="1"/>
                <union id="vnd">
                  <field name="f" type="v2d"/>
                  <field name="u" type="v2u"/>
                  <field name="s" type="v2i"/>
                </union>
                <union id="vns">
                  <field name="f" type="v4f"/>
                  <field name="u" type="v4u"/>
                  <field name="s" type="v4i"/>
                </union>
                <union id="vnh">
                  <field name="f" type="v8f"/>
                  <field name="u" type="v8u"/>
                  <field name="s" type="v8i"/>
                </union>
                <union id="vnb">
                  <field name="u" type="v16u"/>
                  <field name="s" type="v16i"/>
                </union>
                <union id="vnq">
                  <field name="u" type="v1u"/>
                  <field name="s" type="v1i"/>
                </union>
                <union id="aarch64v">
                  <field name="d" type="vnd"/>
                  <field name="s" type="vns"/>
                  <field name="h" type="vnh"/>
                  <field name="b" type="vnb"/>
                  <field name="q" type="vnq"/>
                </union>

            """
        for n in 0...31 {
            xml += "    <reg name=\"v\(n)\" bitsize=\"128\" type=\"aarch64v\" regnum=\"\(34 + n)\"/>\n"
        }
        xml += """
                <reg name="fpsr" bitsize="32" type="int" regnum="66"/>
                <reg name="fpcr" bitsize="32" type="int" regnum="67"/>
              </feature>
            </target>

            """
        return Array(xml.utf8)
    }()

    /// A memory map listing `regions`; gdb treats everything else as inaccessible.
    static func memoryMap(_ regions: [MemoryRegion]) -> [UInt8] {
        var xml = """
            <?xml version="1.0"?>
            <!DOCTYPE memory-map PUBLIC "+//IDN gnu.org//DTD GDB Memory Map V1.0//EN" "http://sourceware.org/gdb/gdb-memory-map.dtd">
            <memory-map>

            """
        for region in regions where region.length > 0 {
            xml += "  <memory type=\"\(region.kind.rawValue)\" start=\"0x\(String(region.start, radix: 16))\""
                + " length=\"0x\(String(region.length, radix: 16))\"/>\n"
        }
        xml += "</memory-map>\n"
        return Array(xml.utf8)
    }

    /// The thread list, with ids written as `formatThread` writes them in other packets.
    /// The `qXfer:threads` document; a thread's description, when there is one, is its element's
    /// text (gdb shows it in `info threads` and, given this document, asks nothing else for it).
    static func threads(
        _ threads: [Int], formatThread: (Int) -> String, describe: (Int) -> String? = { _ in nil }
    ) -> [UInt8] {
        var xml = "<?xml version=\"1.0\"?>\n<threads>\n"
        for thread in threads {
            if let description = describe(thread) {
                xml += "  <thread id=\"\(formatThread(thread))\">\(escapingXML(description))</thread>\n"
            } else {
                xml += "  <thread id=\"\(formatThread(thread))\"/>\n"
            }
        }
        xml += "</threads>\n"
        return Array(xml.utf8)
    }

    /// Text made safe as XML character data.
    static func escapingXML(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
