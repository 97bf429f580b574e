namespace MedTech.Edge.Buffer;

/// <summary>
/// A stage's record of the ids it holds, kept beside the buffer so that after a death the stage retries them one at a
/// time and quarantines the one that kills it (<see cref="InHand"/>). Shared by every stage that reads the buffer.
/// </summary>
public interface IInHandRecords
{
    InHand? ReadInHand(string stage);

    void SetInHand(string stage, InHand inHand);

    void ClearInHand(string stage);
}
