import DiskFormats
import DiskFormatsTesting
import Testing

@Suite struct MalformedCorpusTests {
    @Test func corpusHasEveryTableRowAndMore() {
        #expect(MalformedCorpus.cases.count >= 30)
        #expect(MalformedCorpus.truncations.count >= 60)
    }

    @Test(arguments: MalformedCorpus.cases)
    func eachMalformedCaseGetsItsTypedResult(_ sample: MalformedCorpus.Case) {
        let result = Result { () throws(DiskFormatError) in
            try DiskImageReader.read(InMemoryByteSource(sample.bytes), name: sample.fileName)
        }
        switch (sample.expectation, result) {
        case (.error(let code, let structure), .failure(let error)):
            #expect(error.code == code, "\(error)")
            #expect(error.structure?.contains(structure) == true, "\(error)")
            #expect(error.offset != nil || error.code == .io, "an error names the byte offset: \(error)")
        case (.warning(let text), .success(let info)):
            #expect(info.warnings.contains { $0.contains(text) }, "warnings: \(info.warnings)")
        case (.parses(let type), .success(let info)):
            #expect(info.diskType == type)
        case (.needsReplay, .success(let info)):
            #expect(info.logState == .needsReplay)
        case (_, .failure(let error)):
            Issue.record("expected \(sample.expectation), got \(error)")
        case (_, .success(let info)):
            Issue.record("expected \(sample.expectation), parsed \(info)")
        }
    }

    @Test(arguments: MalformedCorpus.truncations)
    func truncationAtEveryStructureBoundaryIsMalformed(_ sample: MalformedCorpus.Case) {
        #expect {
            try DiskImageReader.read(InMemoryByteSource(sample.bytes), name: sample.fileName)
        } throws: { error in
            guard let error = error as? DiskFormatError else { return false }
            return error.code == .malformed && error.structure != nil && error.offset != nil
        }
    }
}
